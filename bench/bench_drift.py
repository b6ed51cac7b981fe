"""What the drift guard costs and buys on this machine: one latency recording with the guard, the
same samples without it, side by side.

Both record the same seeded SubTransformers of a task's latency space (`hat latency dataset`'s
sequence) with the same meter (one torch thread by default); the guard-off pass times each sample
once and keeps it as measured. For each it prints rows flagged / re-measured / normalized, the wall
time, and the held-out figures of the default predictor fitted on it (`hat predictor train`, split
seed 1, flagged rows left out as the workflow does). The order (off, then on) is fixed, so on a
shared machine whose load changes the two wall times are minutes apart; the `in-run` ratio is
measured under one load: the guard-on wall time over the time its kept rows' own measurements took
(from their timestamps: consecutive rows of a block; a block's first row, which follows a reference
check, counts as the block's median row).

    .venv/bin/python bench/bench_drift.py --task demo --data results/demo/data [--samples 150]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from hat.cli import main as hat
from hat.latency.dataset import DriftSettings, record_dataset, sample_sequence
from hat.latency.measure import LatencyMeter, data_vocab_size
from hat.latency.table import read_latency_csv, row_from_config, write_latency_csv
from hat.tasks import load_task


def record_without_guard(meter: LatencyMeter, samples: int, seed: int, out: Path) -> None:
    rows = []
    for config in sample_sequence(meter.task.latency_space, seed, samples):
        m = meter.measure(config)
        rows.append(
            row_from_config(
                config,
                encoder_ms=m.encoder_ms,
                decoder_ms=m.decoder_ms,
                encoder_std_ms=m.encoder_std_ms,
                decoder_std_ms=m.decoder_std_ms,
                timestamp=time.time(),
                drift_flag=0,
            )
        )
    write_latency_csv(out, rows)


def kept_rows_seconds(csv_path: Path, check_every: int) -> float:
    """Seconds the kept rows' own measurements took, from their timestamps (see the module doc)."""
    stamps = [row.timestamp for row in read_latency_csv(csv_path)]
    total = 0.0
    for first in range(0, len(stamps), check_every):
        block = stamps[first : first + check_every]
        durations = [b - a for a, b in zip(block, block[1:])]
        total += sum(durations) + (statistics.median(durations) if durations else 0.0)
    return total


def heldout(csv_path: Path, task: str) -> dict:
    out = csv_path.with_suffix(".pt")
    argv = ["predictor", "train", str(csv_path), "--task", task, "--hardware", "cpu", "--seed", "1", "--out", str(out)]
    assert hat(argv) == 0
    return json.loads(out.with_suffix(".metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="demo")
    parser.add_argument("--data", required=True, help="the task's binarized data dir (sets the vocabulary)")
    parser.add_argument("--samples", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    task = load_task(args.task)
    meter = LatencyMeter(task, threads=args.threads, vocab_size=data_vocab_size(args.data, task))
    work = Path(tempfile.mkdtemp(prefix="bench_drift_"))
    results = {}

    started = time.perf_counter()
    record_without_guard(meter, args.samples, args.seed, work / "off.csv")
    results["off"] = {"wall_s": time.perf_counter() - started, "flagged": 0, "remeasured": 0, "normalized": 0}

    started = time.perf_counter()
    summary = record_dataset(
        work / "on.csv",
        task=task,
        samples=args.samples,
        seed=args.seed,
        measure=meter.measure,
        settings=DriftSettings(),
        protocol=meter.protocol(),
        progress=False,
    )
    results["on"] = {
        "wall_s": time.perf_counter() - started,
        "flagged": summary.flagged_rows,
        "remeasured": summary.remeasured_rows,
        "normalized": summary.normalized_rows,
    }
    guard = json.loads((work / "on.env.json").read_text())["drift_guard"]
    in_run = results["on"]["wall_s"] / kept_rows_seconds(work / "on.csv", DriftSettings().check_every)

    print(f"{args.task}: {args.samples} samples, {args.threads} thread(s), vocabulary {meter.vocab_size}, {work}")
    print(f"cpu: {meter.protocol()['environment']['cpu_model']}")
    print("guard | wall s | flagged | re-measured | normalized | held-out ±10 % | MAPE % | ±5 % | rows scored")
    for name, figures in results.items():
        metrics = heldout(work / f"{name}.csv", args.task)
        print(
            f"{name:5} | {figures['wall_s']:6.1f} | {figures['flagged']:7} | {figures['remeasured']:11} | "
            f"{figures['normalized']:10} | {metrics['within_10_pct']:14.1f} | {metrics['mape_pct']:6.2f} | "
            f"{metrics['within_5_pct']:4.1f} | {metrics['rows']}"
        )
    print(
        f"wall on/off: {results['on']['wall_s'] / results['off']['wall_s']:.2f}x (in-run: {in_run:.2f}x); "
        f"reference noise "
        f"{100 * guard['noise']:.1f} % (robust σ of consecutive log ratios), block tolerance "
        f"{100 * guard['block_tolerance']:.1f} %, {guard['checks']} checks, {guard['failed_checks']} failed"
    )


if __name__ == "__main__":
    main()
