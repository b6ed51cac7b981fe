"""Files written next to a predictor, and predictions for a CSV (`hat predictor ...`)."""

from __future__ import annotations

import csv
import os
from typing import Any

import numpy as np

from hat.io import atomic_path, text_errors
from hat.latency.table import read_latency_csv
from hat.predictor.file import Predictor
from hat.predictor.kinds import require_configs
from hat.tasks import BUILTIN_TASKS, load_task


def write_heldout_csv(path, indices, measured_ms, predicted_ms, drift_flags) -> None:
    """One line per held-out row: its row number in the training CSV (1-based), measured and
    predicted total ms, signed error %, and the drift flag when the CSV recorded one."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(["row", "measured_ms", "predicted_ms", "error_pct", "drift_flag"])
        for index, measured, predicted, flag in zip(indices, measured_ms, predicted_ms, drift_flags):
            error = 100 * (predicted - measured) / measured
            writer.writerow([index + 1, repr(float(measured)), repr(float(predicted)), f"{error:.3f}", flag or ""])


def write_heldout_plot(path, measured_ms, predicted_ms, drift_flags, meta: dict[str, Any]) -> None:
    """Predicted vs measured on the held-out rows, with the ±10 % band; rows the drift guard
    flagged (not scored, see `build_predictor`) in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = meta["metrics"]
    figure, axes = plt.subplots(figsize=(5, 5))
    low, high = float(min(measured_ms.min(), predicted_ms.min())), float(max(measured_ms.max(), predicted_ms.max()))
    line = np.array([low, high])
    axes.plot(line, line, color="black", linewidth=1, label="exact")
    axes.fill_between(line, 0.9 * line, 1.1 * line, color="grey", alpha=0.25, label="±10 %")
    flagged = np.array([flag == 1 for flag in drift_flags], dtype=bool)  # [N]
    axes.scatter(measured_ms[~flagged], predicted_ms[~flagged], s=6, alpha=0.6)
    if flagged.any():
        axes.scatter(measured_ms[flagged], predicted_ms[flagged], s=6, color="red", label="drift-flagged")
    axes.set_xlabel("measured latency (ms)")
    axes.set_ylabel("predicted latency (ms)")
    axes.set_title(
        f"{meta['task']} / {meta['hardware']} ({meta['kind']}): MAPE {metrics['mape_pct']:.1f} %, "
        f"±10 % {metrics['within_10_pct']:.0f} %",
        fontsize=9,
    )
    axes.legend(loc="upper left")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
    plt.close(figure)


def write_with_predictions(predictor: Predictor, csv_path: str | os.PathLike, out: str | os.PathLike) -> None:
    """OUT = the input rows unchanged plus `predicted_ms`; the input is validated first (against the
    predictor's task latency space when that task is a built-in one)."""
    space = load_task(predictor.task).latency_space if predictor.task in BUILTIN_TASKS else None
    rows = read_latency_csv(csv_path, require_latency=False, space=space)
    configs = [row.config for row in rows]
    if predictor.needs_configs:
        require_configs(configs, len(rows), csv_path)
    predicted = predictor.predict(np.array([row.features for row in rows]), configs)
    with text_errors(csv_path), open(csv_path, newline="", encoding="utf-8") as stream:
        table = list(csv.reader(stream))
    with atomic_path(out) as tmp, open(tmp, "w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(table[0] + ["predicted_ms"])
        for cells, value in zip(table[1:], predicted):
            writer.writerow(cells + [repr(float(value))])
