"""What the drift guard costs and buys on this machine: one latency recording with the guard and
the same samples without it, side by side.

All passes record the same seeded SubTransformers of a task's latency space (`hat latency
dataset`'s sequence) with the same meter (one torch thread by default) and the same protocol
(`--runs` timed runs after `--warmup`, trimmed mean). The guard-off passes time each sample once
and keep it as measured; the guard-on pass is `hat latency dataset`'s recording (paired reference
runs, hat.latency.dataset). The order is off, on, off, so a load that changes during the bench
weighs on both sides: the wall-time ratio is the guard-on time over the mean of the two guard-off
times. For each it prints rows flagged / re-measured / normalized, the wall time, and the held-out
figures of the default predictor fitted on it (`hat predictor train`, split seed 1, flagged rows
left out as the workflow does).

    .venv/bin/python bench/bench_drift.py --task demo --data results/demo/data [--samples 150]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from hat.cli import main as hat
from hat.latency.dataset import DriftSettings, record_dataset, sample_sequence
from hat.latency.measure import LatencyMeter, data_vocab_size
from hat.latency.table import row_from_config, write_latency_csv
from hat.tasks import load_task


def record_without_guard(meter: LatencyMeter, samples: int, seed: int, out: Path) -> float:
    """Seconds to time each sample once with the meter's protocol, rows written as measured."""
    started, rows = time.perf_counter(), []
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
    seconds = time.perf_counter() - started
    write_latency_csv(out, rows)
    return seconds


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
    settings = DriftSettings()
    vocab_size = data_vocab_size(args.data, task)
    meter = LatencyMeter(task, threads=args.threads, runs=settings.runs, warmup=settings.warmup, vocab_size=vocab_size)
    work = Path(tempfile.mkdtemp(prefix="bench_drift_"))
    results = {"off": {"wall_s": record_without_guard(meter, args.samples, args.seed, work / "off.csv")}}

    started = time.perf_counter()
    summary = record_dataset(
        work / "on.csv",
        task=task,
        samples=args.samples,
        seed=args.seed,
        measure=meter.measure_once,
        settings=settings,
        protocol=meter.protocol(),
        progress=False,
    )
    results["on"] = {
        "wall_s": time.perf_counter() - started,
        "flagged": summary.flagged_rows,
        "remeasured": summary.remeasured_rows,
        "normalized": summary.normalized_rows,
    }
    off_again = record_without_guard(meter, args.samples, args.seed, work / "off-again.csv")
    off_wall = (results["off"]["wall_s"] + off_again) / 2

    print(f"{args.task}: {args.samples} samples, {args.threads} thread(s), vocabulary {meter.vocab_size}, {work}")
    print(f"cpu: {meter.protocol()['environment']['cpu_model']}")
    print("guard | wall s | flagged | re-measured | normalized | held-out ±10 % | MAPE % | ±5 % | rows scored")
    for name, figures in results.items():
        metrics = heldout(work / f"{name}.csv", args.task)
        print(
            f"{name:5} | {figures['wall_s']:6.1f} | {figures.get('flagged', 0):7} | "
            f"{figures.get('remeasured', 0):11} | {figures.get('normalized', 0):10} | "
            f"{metrics['within_10_pct']:14.1f} | {metrics['mape_pct']:6.2f} | "
            f"{metrics['within_5_pct']:4.1f} | {metrics['rows']}"
        )
    factors = json.loads((work / "on.env.json").read_text())["drift_guard"]["row_factors"]
    print(
        f"wall on / off: {results['on']['wall_s'] / off_wall:.2f}x (guard-off passes {results['off']['wall_s']:.1f} s "
        f"and {off_again:.1f} s); rows' state factors {min(factors):.2f}-{max(factors):.2f} "
        f"(baseline {summary.guard['baseline_ms']:.2f} ms)"
    )


if __name__ == "__main__":
    main()
