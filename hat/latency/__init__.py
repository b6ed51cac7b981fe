"""The hardware half of HAT (spec §3): time SubTransformers, record latency datasets, fetch HAT's.

Modules:
- `table`: the latency CSV (HAT's 14 columns first, then ours), reading with validation, row writing.
- `measure`: the measurement protocol (dummy input, encoder once, L incremental decoder steps with
  beam 5), timers (CPU clock, CUDA events) and trimmed statistics; the environment record.
- `dataset`: recording a dataset row by row, with resume and the drift guard.
- `adaptive`: `--samples auto`, rounds of `dataset` until the predictor stops improving.
- `published`: HAT's published CSVs, downloaded at a pinned commit with a checksum.

Everything here needs torch at most (imported lazily), never fairseq, so a user can measure on a
board where only torch and this package are installed.
"""
