"""Recording a latency dataset: seeded samples, row-by-row CSV, resume, drift guard (issue #5).

Samples are `task.latency_space.sample(random.Random(seed))` in order, so a resumed run continues
the same sequence. Rows go to `OUT.partial` in blocks of `check_every`, each line flushed and
fsynced; when all samples are in, the environment sidecar `OUT.env.json` is written and the
partial file is renamed onto OUT (Snakemake never sees a half-recorded dataset under its name).

Drift guard: HAT's CSVs hold blocks of rows measured 15–30 % slow because the device changed state
mid-recording. Here a fixed reference SubTransformer is timed before recording (the baseline) and
after every block. A block is written with drift_flag 0 only if the check that closes it is within
`tolerance` of the baseline (the check closing the previous block opened it). Otherwise the guard
waits for the reference to return to the baseline and re-measures the block, up to
`max_attempts` times; a block that never passes is written with drift_flag 1. The sidecar counts
re-measured and flagged rows over the whole dataset, resumed sessions included: flagged rows are
counted from the finished CSV's drift_flag column, re-measured rows (which leave no trace in a
row) are carried across sessions in `OUT.partial.counts.json`, rewritten after every block.
"""

from __future__ import annotations

import json
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
    tolerance: float = 0.05  # allowed relative deviation of the reference from its baseline
    check_every: int = 10  # samples per block between reference checks
    max_attempts: int = 3  # measurements of a block before it is written flagged
    settle_checks: int = 5  # reference re-timings while waiting for the device to return
    settle_wait_s: float = 2.0  # pause between those re-timings
    baseline_repeats: int = 3  # reference timings whose median is the baseline


@dataclass
class DriftGuard:
    """Times the reference config and compares it with the baseline taken at the start."""

    measure: Measure
    reference: SubConfig
    settings: DriftSettings
    sleep: Callable[[float], None] = time.sleep
    baseline_ms: float = 0.0
    checks: int = 0
    failed_checks: int = 0

    def calibrate(self) -> float:
        timings = [self.measure(self.reference).total_ms for _ in range(self.settings.baseline_repeats)]
        self.baseline_ms = statistics.median(timings)
        return self.baseline_ms

    def steady(self) -> bool:
        """Time the reference once: is it within tolerance of the baseline?"""
        self.checks += 1
        ratio = self.measure(self.reference).total_ms / self.baseline_ms
        ok = abs(ratio - 1.0) <= self.settings.tolerance
        self.failed_checks += not ok
        return ok

    def wait_until_steady(self) -> bool:
        for _ in range(self.settings.settle_checks):
            self.sleep(self.settings.settle_wait_s)
            if self.steady():
                return True
        return False


@dataclass
class DatasetSummary:
    rows: int
    resumed_rows: int
    remeasured_rows: int = 0
    flagged_rows: int = 0
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
    sleep: Callable[[float], None] = time.sleep,
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
    guard = DriftGuard(measure, space.smallest(arbitrary=-1), settings, sleep=sleep)
    if done < samples:
        guard.calibrate()
        with open(partial, "a", newline="") as stream, _progress_bar(samples, done, progress) as bar:
            if done == 0:
                write_header(stream)
            while done < samples:
                block = configs[done : done + settings.check_every]
                rows = _measure_block(block, guard, summary, measure, clock)
                append_rows(stream, rows)
                done += len(rows)
                _save_remeasured(partial, summary.remeasured_rows)
                bar.update(len(rows))
    summary.guard = {
        "reference": guard.reference.to_hat_dict(),
        "baseline_ms": guard.baseline_ms,
        "checks": guard.checks,
        "failed_checks": guard.failed_checks,
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
    block: list[SubConfig], guard: DriftGuard, summary: DatasetSummary, measure: Measure, clock
) -> list[LatencyRow]:
    for attempt in range(1, guard.settings.max_attempts + 1):
        rows = [_measured_row(config, measure, clock) for config in block]
        if guard.steady():
            return [_with_flag(row, 0) for row in rows]
        if attempt < guard.settings.max_attempts:
            summary.remeasured_rows += len(rows)
            guard.wait_until_steady()
    summary.flagged_rows += len(rows)
    return [_with_flag(row, 1) for row in rows]


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


def _with_flag(row: LatencyRow, flag: int) -> LatencyRow:
    return replace(row, drift_flag=flag)


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
        "drift_guard": summary.guard,
    }
    write_text_atomic(sidecar_path(out), json.dumps(sidecar, indent=1) + "\n")
