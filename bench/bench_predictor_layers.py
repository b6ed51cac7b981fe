"""Does the per-layer config tell the latency predictor more than HAT's 10 averaged features?

HAT's features average each per-layer choice over the layers, so FFN widths [3072, 512] and
[1792, 1792] look alike. The default predictor (`cost`) is linear in per-layer sums, which those
averages give exactly; `cost-per-layer` adds lookup terms that only the per-layer config gives
(per-choice layer counts, the exact cross-attention size; `hat/predictor/terms.py`), so a device
whose per-layer cost is not linear in the choices (GEMM efficiency by size, cache fit, per-head
kernels) can be fitted. This bench fits both on a CSV recorded by `hat latency dataset` (its
`subtransformer` column holds the configs; drift-flagged rows are left out) on the same K held-out
splits and prints the mean held-out figures side by side, with the training time.

    .venv/bin/python bench/bench_predictor_layers.py CSV --task T [--splits 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from hat.latency.table import read_latency_csv
from hat.predictor import Predictor, fit_predictor, heldout_split, latency_metrics, require_configs
from hat.tasks import load_task

METHODS = ("cost", "cost-per-layer")
FIGURES = ("within_10_pct", "mape_pct", "within_5_pct", "kendall_tau")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", help="latency CSV from `hat latency dataset` (with the subtransformer column)")
    parser.add_argument("--task", required=True, help="task whose latency space the CSV samples")
    parser.add_argument("--splits", type=int, default=10, help="held-out split seeds 0..K-1")
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = load_task(args.task).latency_space
    rows = [row for row in read_latency_csv(args.csv, space=space) if row.drift_flag != 1]
    configs = [row.config for row in rows]
    require_configs(configs, len(rows), args.csv)
    features = np.array([row.features for row in rows])  # [N, 10]
    target_ms = np.array([row.total_ms for row in rows])  # [N]
    print(f"{args.csv}: {len(rows)} steady rows, median {np.median(target_ms):.1f} ms, {args.splits} splits")
    print(f"{'method':16} {'±10%':>6} {'MAPE%':>6} {'±5%':>6} {'tau':>6} {'train s':>8}")
    for method in METHODS:
        figures = []
        for seed in range(args.splits):
            train, heldout = heldout_split(len(rows), seed)
            start = time.perf_counter()
            fitted = fit_predictor(
                features[train], target_ms[train], method, seed, "", [configs[i] for i in train], space
            )
            seconds = time.perf_counter() - start
            predicted = Predictor(fitted).predict(features[heldout], [configs[i] for i in heldout])
            metrics = latency_metrics(target_ms[heldout], predicted)
            figures.append([metrics[key] for key in FIGURES] + [seconds])
        within_10, mape, within_5, tau, seconds = np.mean(figures, axis=0)
        print(f"{method:16} {within_10:6.1f} {mape:6.2f} {within_5:6.1f} {tau:6.3f} {seconds:8.2f}")


if __name__ == "__main__":
    main()
