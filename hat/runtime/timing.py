"""HAT's latency protocol (hat.latency.measure) in a deployment runtime and precision.

* torch fp32: the protocol as it is, on the latency supernet's sliced views (HAT's way);
* torch int8: the SubTransformer exported dense (hat.export) and quantized with torch.ao
  (hat.runtime.quantize), then the same protocol;
* onnxruntime fp32/int8: the SubTransformer exported dense, then to ONNX (int8: quantized), then
  the same steps in ONNX Runtime: the encoder on the batch-1 source, its output expanded to the
  beam outside the timed region, L decoder-step graph calls on a fresh cache per run. Static
  cross-attention keys/values come out of the encoder graph (computed once per sentence), where the
  eager model computes them in the first decoder step: encoder and decoder times split differently,
  their total covers the same work.

Export and session creation happen before the warm-up and are never timed.
"""

from __future__ import annotations

import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from hat.latency.measure import (
    LATENCY_BEAM,
    Measurement,
    Timer,
    _timed_runs,
    dummy_inputs,
    measure_subtransformer,
    trimmed_stats,
)
from hat.space import SubConfig


def measure_in_runtime(
    model,
    config: SubConfig,
    runtime: str,
    precision: str,
    *,
    sentence_length: int,
    runs: int,
    warmup: int,
    timer: Timer,
    threads: int | None = None,
    beam: int = LATENCY_BEAM,
) -> Measurement:
    """Time `config` (a SubTransformer of the SuperTransformer `model`) as `runtime`/`precision` runs it."""
    from hat.export import export_subtransformer

    protocol = {"sentence_length": sentence_length, "runs": runs, "warmup": warmup, "timer": timer, "beam": beam}
    if runtime == "torch" and precision == "fp32":
        return measure_subtransformer(model, config, **protocol)
    key = (id(model), config, runtime, precision, threads)
    prepared = PREPARED_MODELS.get(key)
    if prepared is None:
        prepared = _prepare(export_subtransformer(model, config).eval(), runtime, precision, threads)
        PREPARED_MODELS.keep(key, prepared)
    if runtime == "torch":
        return measure_subtransformer(prepared, config, **protocol)
    return measure_session(prepared, **protocol)


def _prepare(dense, runtime: str, precision: str, threads: int | None):
    """What `runtime` times for a dense SubTransformer: its torch.ao int8 model, or an ORT session."""
    if runtime == "torch":
        from hat.runtime.quantize import quantize_torch

        return quantize_torch(dense)
    return _ort_session(dense, precision, threads)


def _ort_session(dense, precision: str, threads: int | None):
    """Export, quantize if int8, open; the files can go once the session holds the graphs."""
    from hat.runtime.ort_model import OrtSubTransformer
    from hat.runtime.quantize import export_onnx_at

    with tempfile.TemporaryDirectory(prefix="hat-onnx-") as tmp:
        export_onnx_at(dense, Path(tmp) / "model", precision)
        return OrtSubTransformer(Path(tmp) / "model", threads=threads)


class PreparedModels:
    """The prepared models (ORT sessions, torch int8 models) of the last `size` configs timed: the
    drift guard times a sample and its reference run by run, one call per run, so each config's
    export and quantization (seconds) happen once; the least recent is dropped."""

    def __init__(self, size: int = 4):
        self.size = size
        self.models: OrderedDict = OrderedDict()

    def get(self, key):
        if key in self.models:
            self.models.move_to_end(key)
        return self.models.get(key)

    def keep(self, key, model) -> None:
        self.models[key] = model
        self.models.move_to_end(key)
        while len(self.models) > self.size:
            self.models.popitem(last=False)


PREPARED_MODELS = PreparedModels()


def measure_session(session, *, sentence_length: int, runs: int, warmup: int, timer: Timer, beam: int) -> Measurement:
    """The protocol's encoder and decoder runs on an OrtSubTransformer."""
    from hat.runtime.ort_model import reorder

    src_tokens, _, prev_output_tokens = (t.numpy() for t in dummy_inputs(sentence_length, beam, "cpu"))

    def run_encoder():
        return session.encode(src_tokens)

    encoded = reorder(run_encoder(), np.zeros(beam, dtype=np.int64))  # [beam, ...] outside the timed region

    def run_decoder():
        cache = session.empty_cache(beam)
        for step in range(sentence_length):
            _, cache = session.step(prev_output_tokens[:, step : step + 1], encoded, cache)

    encoder_mean, encoder_std = trimmed_stats(_timed_runs(run_encoder, runs, warmup, timer))
    decoder_mean, decoder_std = trimmed_stats(_timed_runs(run_decoder, runs, warmup, timer))
    return Measurement(encoder_mean, encoder_std, decoder_mean, decoder_std, runs)
