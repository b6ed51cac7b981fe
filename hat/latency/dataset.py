"""Recording a latency dataset: seeded samples, row-by-row CSV, resume, drift guard (issue #5).

Samples are `task.latency_space.sample(random.Random(seed))` in order, so a resumed run continues
the same sequence. Rows go to `OUT.partial` in blocks of `check_every`, each line flushed and
fsynced; when all samples are in, the environment sidecar `OUT.env.json` is written and the
partial file is renamed onto OUT (Snakemake never sees a half-recorded dataset under its name).

Drift guard (issue #11): HAT's CSVs hold blocks of rows measured 15–30 % slow because the device
changed state mid-recording; a shared VM or a throttling board changes speed the same way, and
its timings are noisy besides. A fixed reference SubTransformer (the latency space's smallest) is
timed `baseline_repeats` times before recording (the median is the baseline) and once after every
block of `check_every` samples, so each block lies between two reference timings: its opening and
its closing check. The reference is judged against its own measured noise:

- noise: the robust spread (MAD / 0.6745) of the log ratio of consecutive reference timings; the
  block tolerance is `noise_multiple` times it, clipped to [`tolerance`, `max_tolerance`] (so a
  15 % step is always drift, and ordinary jitter of a loaded VM is not);
- a block whose opening and closing checks differ by more than the tolerance saw the device change
  during the block: the reference is timed afresh and the block re-measured, up to
  `max_attempts` times; a block that never passes is written with drift_flag 1;
- a block that passes was measured in one device state: the geometric mean of its two checks over
  the baseline is that state's speed factor. Beyond the tolerance (a sustained slowdown or
  speed-up) the block's timings are divided by it, i.e. normalized to the baseline state;
  within it, the rows are written as measured (ordinary noise is not corrected).

The sidecar records the baseline, every check, the noise, re-measured, flagged and normalized rows
(with each normalized block's factor). A resumed run takes a fresh baseline. Re-measured and
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
from hat.io import write_text_atomic
from hat.latency.measure import Measurement
from hat.latency.table import ALL_COLUMNS, LatencyRow, append_rows, read_latency_csv, row_from_config, write_header
from hat.space import SubConfig

Measure = Callable[[SubConfig], Measurement]


@dataclass(frozen=True)
class DriftSettings:
    tolerance: float = 0.05  # least relative change of the reference across a block that counts as drift
    max_tolerance: float = 0.12  # the noise-scaled tolerance never exceeds this
    noise_multiple: float = 3.0  # tolerance = this many robust σ of the reference's consecutive log ratios
    check_every: int = 2  # samples per block between reference checks (short blocks: few state changes inside)
    max_attempts: int = 3  # measurements of a block before it is written flagged
    baseline_repeats: int = 5  # reference timings whose median is the baseline


@dataclass
class DriftGuard:
    """Times the reference config; judges a block by its two checks against the reference's noise."""

    measure: Measure
    reference: SubConfig
    settings: DriftSettings
    baseline_ms: float = 0.0
    timings_ms: list[float] = field(default_factory=list)  # every reference timing, in order
    failed_checks: int = 0

    def calibrate(self) -> float:
        self.baseline_ms = statistics.median(self.check() for _ in range(self.settings.baseline_repeats))
        return self.baseline_ms

    def check(self) -> float:
        """Time the reference once; returns (and keeps) the timing."""
        self.timings_ms.append(self.measure(self.reference).total_ms)
        return self.timings_ms[-1]

    def noise(self) -> float:
        """Robust σ of log(t[i+1] / t[i]) over the reference timings so far (0 with fewer than 3)."""
        ratios = [math.log(b / a) for a, b in zip(self.timings_ms, self.timings_ms[1:])]
        if len(ratios) < 2:
            return 0.0
        center = statistics.median(ratios)
        return statistics.median(abs(r - center) for r in ratios) / 0.6745

    def tolerance(self) -> float:
        """Allowed |log| change of the reference across a block: its own noise, within the bounds."""
        low, high = math.log1p(self.settings.tolerance), math.log1p(self.settings.max_tolerance)
        return max(min(self.settings.noise_multiple * self.noise(), high), low)

    def steady_between(self, opening_ms: float, closing_ms: float) -> bool:
        ok = abs(math.log(closing_ms / opening_ms)) <= self.tolerance()
        self.failed_checks += not ok
        return ok

    def speed_factor(self, opening_ms: float, closing_ms: float) -> float:
        """The block's device state relative to the baseline; 1 where that is within the tolerance."""
        factor = math.sqrt(opening_ms * closing_ms) / self.baseline_ms
        return factor if abs(math.log(factor)) > self.tolerance() else 1.0


@dataclass
class DatasetSummary:
    rows: int
    resumed_rows: int
    remeasured_rows: int = 0
    flagged_rows: int = 0
    normalized_rows: int = 0
    normalized_blocks: list[dict[str, Any]] = field(default_factory=list)  # first/last row, factor
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
    guard = DriftGuard(measure, space.smallest(arbitrary=-1), settings)
    if done < samples:
        guard.calibrate()
        with open(partial, "a", newline="") as stream, _progress_bar(samples, done, progress) as bar:
            if done == 0:
                write_header(stream)
            while done < samples:
                block = configs[done : done + settings.check_every]
                rows = _measure_block(block, done, guard, summary, measure, clock)
                append_rows(stream, rows)
                done += len(rows)
                _save_remeasured(partial, summary.remeasured_rows)
                bar.update(len(rows))
    summary.guard = {
        "reference": guard.reference.to_hat_dict(),
        "baseline_ms": guard.baseline_ms,
        "checks": len(guard.timings_ms),
        "failed_checks": guard.failed_checks,
        "noise": guard.noise(),
        "block_tolerance": math.expm1(guard.tolerance()),
        "reference_ms": guard.timings_ms,
        "normalized_blocks": summary.normalized_blocks,
        **asdict(settings),
    }
    summary.flagged_rows = count_flagged_rows(partial, space)
    _write_sidecar(out, task, samples, seed, summary, protocol or {})
    os.replace(partial, out)
    counts_path(partial).unlink(missing_ok=True)
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


def _measure_block(
    block: list[SubConfig], first: int, guard: DriftGuard, summary: DatasetSummary, measure: Measure, clock
) -> list[LatencyRow]:
    """Rows of `block` (samples first+1.. of the dataset) between two agreeing reference checks,
    normalized to the baseline state where that state differs from it; flagged if none agree."""
    opening = guard.timings_ms[-1]  # the previous block's closing check (or the last calibration timing)
    for attempt in range(1, guard.settings.max_attempts + 1):
        rows = [_measured_row(config, measure, clock) for config in block]
        closing = guard.check()
        if guard.steady_between(opening, closing):
            factor = guard.speed_factor(opening, closing)
            if factor != 1.0:
                summary.normalized_rows += len(rows)
                summary.normalized_blocks.append({"rows": [first + 1, first + len(rows)], "factor": factor})
            return [_normalized(row, factor, flag=0) for row in rows]
        if attempt < guard.settings.max_attempts:
            summary.remeasured_rows += len(rows)
            opening = guard.check()  # a fresh opening: the failed closing check may be the odd one out
    summary.flagged_rows += len(rows)
    return [_normalized(row, 1.0, flag=1) for row in rows]


def _measured_row(config: SubConfig, measure: Measure, clock) -> LatencyRow:
    m = measure(config)
    return row_from_config(
        config,
        encoder_ms=m.encoder_ms,
        decoder_ms=m.decoder_ms,
        encoder_std_ms=m.encoder_std_ms,
        decoder_std_ms=m.decoder_std_ms,
        timestamp=clock(),
    )


def _normalized(row: LatencyRow, factor: float, flag: int) -> LatencyRow:
    """`row` with its timings divided by `factor` (the device state over the baseline's) and `flag`."""
    return replace(
        row,
        encoder_ms=row.encoder_ms / factor,
        decoder_ms=row.decoder_ms / factor,
        encoder_std_ms=row.encoder_std_ms / factor,
        decoder_std_ms=row.decoder_std_ms / factor,
        drift_flag=flag,
    )


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
