"""Recording a latency dataset: seeded samples, row-by-row CSV, resume, drift guard (issue #5).

Samples are `task.latency_space.sample(random.Random(seed))` in order, so a resumed run continues
the same sequence. Rows go to `OUT.partial` one by one, each line flushed and
fsynced; when all samples are in, the environment sidecar `OUT.env.json` is written and the
partial file is renamed onto OUT (Snakemake never sees a half-recorded dataset under its name).

Drift guard (issue #11): HAT's CSVs hold blocks of rows measured 15–30 % slow because the device
changed state mid-recording; a shared VM or a throttling board changes speed the same way, often
within a second (another process takes the core, or its hyperthread sibling), so timings taken
seconds apart are not comparable. The guard therefore pairs every sample with a fixed reference
SubTransformer (the latency space's smallest) run by run: each sample's `runs` timed runs are taken
in groups of `runs_per_reference`, each group between two reference runs (R S S R S S R ...), and
every sample run is divided by its group's state factor (the geometric mean of the two reference
runs around it over the baseline, the median of `baseline_runs` reference runs before recording).
A state change slower than a group (~0.1 s) scales the reference and the sample alike and cancels;
the row is HAT's trimmed mean of the normalized runs, expressed in the baseline state.

- a row whose normalized runs still disagree (the robust standard error of their log, MAD / 0.6745
  over √runs, above `tolerance`: the device changed state faster than a group) is re-measured, up to
  `max_attempts` times, and written with drift_flag 1 if it never settles;
- a row whose own state factor (the geometric mean of its groups') is beyond `tolerance` was
  measured in another state than the baseline: drift, seen and divided out; such rows are counted
  as normalized and reported in stretches of consecutive rows with their mean factor.

The sidecar records the baseline, each row's state factor and spread, the re-measured, flagged and
normalized rows (with each normalized stretch's mean factor). A resumed run takes a fresh baseline. Re-measured and
flagged rows are counted over the whole dataset, resumed sessions included: flagged rows from the
finished CSV's drift_flag column, re-measured rows (which leave no trace in a row) carried across
sessions in `OUT.partial.counts.json`, rewritten after every block.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from hat.errors import HatError
from hat.io import remove_written, write_text_atomic
from hat.latency.measure import LatencyMeter, Measurement, robust_scale, trimmed_stats
from hat.latency.table import ALL_COLUMNS, LatencyRow, append_rows, read_latency_csv, row_from_config, write_header
from hat.space import SubConfig

Measure = Callable[[SubConfig], Measurement]  # one timed run, no warm-up


@dataclass(frozen=True)
class DriftSettings:
    runs: int = LatencyMeter.runs  # timed runs per sample (the protocol's N; trimmed mean of the normalized runs)
    warmup: int = LatencyMeter.warmup  # untimed runs of each sample before its timed ones
    runs_per_reference: int = 4  # sample runs between two reference runs (a group: ~0.1-0.5 s on a CPU)
    tolerance: float = 0.05  # a state factor beyond this is drift; a row's standard error beyond it is unsettled
    max_attempts: int = 3  # measurements of a row before it is written flagged
    baseline_runs: int = 20  # reference runs whose median is the baseline

    def check(self) -> None:
        for name in ("runs", "runs_per_reference", "max_attempts", "baseline_runs"):
            if getattr(self, name) < 1:
                raise HatError(f"drift guard: {name} must be >= 1, got {getattr(self, name)}")
        if self.warmup < 0 or not self.tolerance > 0:
            raise HatError(f"drift guard: need warmup >= 0 and tolerance > 0 (got {self.warmup}, {self.tolerance})")


@dataclass(frozen=True)
class PairedRow:
    """One sample's runs divided by the reference runs around them, with what the guard judges by."""

    row: LatencyRow  # in the baseline state
    factor: float  # the state the sample was measured in, over the baseline (geometric mean of its groups)
    spread: float  # robust standard error of the log of its normalized runs


@dataclass
class ReferenceGuard:
    """Times samples between runs of the reference config and expresses them in the baseline state."""

    measure_once: Measure  # one timed run of a config
    reference: SubConfig
    settings: DriftSettings
    baseline_ms: float = 0.0

    def calibrate(self) -> float:
        self.measure_once(self.reference)  # warm-up
        self.baseline_ms = statistics.median(self._reference_run() for _ in range(self.settings.baseline_runs))
        return self.baseline_ms

    def _reference_run(self) -> float:
        return self.measure_once(self.reference).total_ms

    def time_sample(self, config: SubConfig, clock) -> PairedRow:
        """Warm-up, then the timed runs in groups between reference runs, each divided by its group's factor."""
        for _ in range(self.settings.warmup):
            self.measure_once(config)
        group_sizes = _group_sizes(self.settings.runs, self.settings.runs_per_reference)
        references, groups = [self._reference_run()], []
        for size in group_sizes:
            groups.append([self.measure_once(config) for _ in range(size)])
            references.append(self._reference_run())
        levels = _despiked(references)  # a burst that hit one reference run is not a state
        encoder, decoder, group_factors = [], [], []
        for index, group in enumerate(groups):
            factor = math.sqrt(levels[index] * levels[index + 1]) / self.baseline_ms
            encoder += [m.encoder_ms / factor for m in group]
            decoder += [m.decoder_ms / factor for m in group]
            group_factors.append(factor)
        encoder_ms, encoder_std = trimmed_stats(encoder)
        decoder_ms, decoder_std = trimmed_stats(decoder)
        row = row_from_config(
            config,
            encoder_ms=encoder_ms,
            decoder_ms=decoder_ms,
            encoder_std_ms=encoder_std,
            decoder_std_ms=decoder_std,
            timestamp=clock(),
            drift_flag=0,
        )
        spread = _robust_standard_error([math.log(e + d) for e, d in zip(encoder, decoder)])
        return PairedRow(row, statistics.median(group_factors), spread)


def measure_in_recorded_state(meter: LatencyMeter, dataset_csv: str | os.PathLike) -> dict[str, Any]:
    """The meter's checkpoint timed like a row of a recorded dataset: paired run by run with the
    dataset's reference (same vocabulary, runtime and precision) and divided by the state factor
    against the dataset's baseline, so it is in the state the dataset, and the predictor fitted on
    it, are expressed in. Also gives the timing as measured (total × factor) and the factor."""
    csv_path = Path(dataset_csv)
    sidecar = _read_sidecar(csv_path)
    recorded = {key: sidecar.get(key) for key in ("vocab_size", "runtime", "precision")}
    if recorded != {"vocab_size": meter.vocab_size, "runtime": meter.runtime, "precision": meter.precision}:
        raise HatError(
            f"{csv_path}: recorded with {recorded}, the model is timed with vocab_size {meter.vocab_size}, "
            f"runtime {meter.runtime}, precision {meter.precision}"
        )
    guard_record = sidecar["drift_guard"]
    reference = SubConfig.from_hat_dict(guard_record["reference"], source=f"{sidecar_path(csv_path)}:reference")
    reference_meter = replace(meter, checkpoint=None, runs=1, warmup=0)  # the latency supernet, same vocabulary

    def measure_once(config: SubConfig) -> Measurement:
        return reference_meter.measure_once(config) if config is reference else meter.measure_once(config)

    guard = ReferenceGuard(
        measure_once,
        reference,
        DriftSettings(runs=meter.runs, warmup=meter.warmup),
        baseline_ms=guard_record["baseline_ms"],
    )
    paired = guard.time_sample(meter.model.config, clock=time.time)
    row = paired.row
    return {
        **Measurement(row.encoder_ms, row.encoder_std_ms, row.decoder_ms, row.decoder_std_ms, meter.runs).to_dict(),
        "state": {
            "latency_dataset": str(csv_path),
            "baseline_ms": guard.baseline_ms,
            "factor": paired.factor,
            "as_measured_ms": row.total_ms * paired.factor,
            "settled": paired.spread <= math.log1p(guard.settings.tolerance),
        },
    }


def _read_sidecar(csv_path: Path) -> dict[str, Any]:
    path = sidecar_path(csv_path)
    try:
        sidecar = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise HatError(f"{path}: cannot read the latency dataset's sidecar ({err})") from None
    if "baseline_ms" not in sidecar.get("drift_guard", {}):
        raise HatError(f"{path}: no drift_guard.baseline_ms (not recorded by `hat latency dataset`)")
    return sidecar


def _group_sizes(runs: int, runs_per_reference: int) -> list[int]:
    """`runs` split into groups of `runs_per_reference` (the last one shorter if it does not divide)."""
    return [min(runs_per_reference, runs - first) for first in range(0, runs, runs_per_reference)]


def _despiked(timings_ms: list[float]) -> list[float]:
    """Running median of 3 (the window shifted inward at the ends): an isolated spike is removed,
    a step (the device changed state) is kept."""
    if len(timings_ms) < 3:
        return list(timings_ms)
    starts = [min(max(index - 1, 0), len(timings_ms) - 3) for index in range(len(timings_ms))]
    return [statistics.median(timings_ms[start : start + 3]) for start in starts]


def _robust_standard_error(values: list[float]) -> float:
    """`robust_scale` / √n: the uncertainty of the values' centre, robust to a few outliers."""
    return robust_scale(values) / math.sqrt(len(values)) if len(values) >= 2 else 0.0


@dataclass
class DatasetSummary:
    rows: int
    resumed_rows: int
    remeasured_rows: int = 0
    flagged_rows: int = 0
    normalized_rows: int = 0
    normalized_blocks: list[dict[str, Any]] = field(default_factory=list)  # stretches: first/last row, factor
    factors: list[float] = field(default_factory=list)  # each row's state factor, this session's rows
    spreads: list[float] = field(default_factory=list)  # each row's standard error, this session's rows
    guard: dict[str, Any] = field(default_factory=dict)


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def sidecar_path(out: Path) -> Path:
    return out.with_name(out.stem + ".env.json")


def sample_sequence(space, seed: int, count: int) -> list[SubConfig]:
    rng = random.Random(seed)
    return [space.sample(rng) for _ in range(count)]


def record_dataset(
    out: str | os.PathLike,
    *,
    task,
    samples: int,
    seed: int,
    measure: Measure,
    settings: DriftSettings = DriftSettings(),
    protocol: dict[str, Any] | None = None,
    clock: Callable[[], float] = time.time,
    progress: bool = True,
) -> DatasetSummary:
    """Record `samples` rows into `out` (resuming `out.partial` if present); see the module doc."""
    if samples < 1:
        raise HatError(f"--samples must be >= 1, got {samples}")
    out = Path(out)
    space = task.latency_space
    configs = sample_sequence(space, seed, samples)
    partial = partial_path(out)
    done = _resume(partial, configs, space)
    summary = DatasetSummary(rows=samples, resumed_rows=done, remeasured_rows=_earlier_remeasured(partial, done))
    settings.check()
    guard = ReferenceGuard(measure, space.smallest(arbitrary=-1), settings)
    if done < samples:
        guard.calibrate()
        with open(partial, "a", newline="") as stream, _progress_bar(samples, done, progress) as bar:
            if done == 0:
                write_header(stream)
            for number in range(done + 1, samples + 1):
                append_rows(stream, [_settled_row(configs[number - 1], number, guard, summary, clock)])
                _save_remeasured(partial, summary.remeasured_rows)
                bar.update(1)
    summary.guard = {
        "method": "paired reference runs (docs/latency.md)",
        "reference": guard.reference.to_hat_dict(),
        "baseline_ms": guard.baseline_ms,
        "row_factors": summary.factors,
        "row_spreads": summary.spreads,
        "normalized_blocks": summary.normalized_blocks,
        **asdict(settings),
    }
    summary.flagged_rows = count_flagged_rows(partial, space)
    _write_sidecar(out, task, samples, seed, summary, protocol or {})
    os.replace(partial, out)
    remove_written(counts_path(partial))
    return summary


def counts_path(partial: Path) -> Path:
    return partial.with_name(partial.name + ".counts.json")


def count_flagged_rows(csv_path: Path, space) -> int:
    """Rows with drift_flag 1 in a recorded CSV: the count is the rows', whichever session wrote them."""
    return sum(row.drift_flag == 1 for row in read_latency_csv(csv_path, space=space, min_rows=0))


def _earlier_remeasured(partial: Path, resumed_rows: int) -> int:
    """Re-measured rows of the sessions that wrote `partial` before this one (0 for a fresh start)."""
    path = counts_path(partial)
    if resumed_rows == 0 or not path.is_file():
        return 0
    return int(json.loads(path.read_text())["remeasured_rows"])


def _save_remeasured(partial: Path, remeasured_rows: int) -> None:
    write_text_atomic(counts_path(partial), json.dumps({"remeasured_rows": remeasured_rows}) + "\n")


def _settled_row(config: SubConfig, number: int, guard: ReferenceGuard, summary: DatasetSummary, clock) -> LatencyRow:
    """Sample `number` in the baseline state: re-measured while its normalized runs disagree beyond
    the tolerance, flagged if they never settle; a row measured in another state is counted normalized."""
    tolerance = math.log1p(guard.settings.tolerance)
    for attempt in range(1, guard.settings.max_attempts + 1):
        paired = guard.time_sample(config, clock)
        if paired.spread <= tolerance:
            break
        if attempt < guard.settings.max_attempts:
            summary.remeasured_rows += 1
    summary.factors.append(paired.factor)
    summary.spreads.append(paired.spread)
    if paired.spread > tolerance:  # counted from the CSV at the end (flags of resumed sessions too)
        return replace(paired.row, drift_flag=1)
    if abs(math.log(paired.factor)) > tolerance:
        summary.normalized_rows += 1
        _extend_stretch(summary.normalized_blocks, number, paired.factor)
    return paired.row


def _extend_stretch(stretches: list[dict[str, Any]], number: int, factor: float) -> None:
    """Add row `number` to the last stretch of normalized rows if it follows it, else open one;
    a stretch's factor is the geometric mean of its rows'."""
    if stretches and stretches[-1]["rows"][1] == number - 1:
        last = stretches[-1]
        count = number - last["rows"][0]
        last["factor"] = math.exp((math.log(last["factor"]) * count + math.log(factor)) / (count + 1))
        last["rows"][1] = number
    else:
        stretches.append({"rows": [number, number], "factor": factor})


def _resume(partial: Path, configs: list[SubConfig], space) -> int:
    """Rows already in `partial` (a torn last line from a kill is cut off); they must be the
    seeded sequence's first rows, else the run's settings changed and resuming would mix datasets."""
    if not partial.exists():
        return 0
    _cut_torn_tail(partial)
    if partial.stat().st_size == 0:
        return 0
    rows = read_latency_csv(partial, space=space, min_rows=0)
    if len(rows) > len(configs):
        raise HatError(f"{partial}: holds {len(rows)} rows, more than --samples {len(configs)}")
    for number, (row, expected) in enumerate(zip(rows, configs), start=1):
        if row.config != expected:
            raise HatError(
                f"{partial}: row {number} is not sample {number} of this task/seed "
                "(delete the file to start over, or rerun with the original --task/--seed)"
            )
    return len(rows)


def _cut_torn_tail(path: Path) -> None:
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as stream:
            stream.truncate(data.rfind(b"\n") + 1)


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="sample", disable=not enabled, desc="latency dataset")


def _write_sidecar(out: Path, task, samples: int, seed: int, summary: DatasetSummary, protocol: dict) -> None:
    sidecar = {
        "csv": out.name,
        "columns": list(ALL_COLUMNS),
        "task": task.name,
        "samples": samples,
        "seed": seed,
        **protocol,
        "resumed_rows": summary.resumed_rows,
        "remeasured_rows": summary.remeasured_rows,
        "flagged_rows": summary.flagged_rows,
        "normalized_rows": summary.normalized_rows,
        "drift_guard": summary.guard,
    }
    write_text_atomic(sidecar_path(out), json.dumps(sidecar, indent=1) + "\n")
