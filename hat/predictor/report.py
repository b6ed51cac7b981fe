"""Files written next to a predictor, and predictions for a CSV (`hat predictor ...`)."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hat.io import atomic_path, outputs_beside, text_errors, write_text_atomic
from hat.latency.table import read_latency_csv
from hat.predictor.file import Predictor, save_predictor
from hat.predictor.interval import upper_factor
from hat.predictor.kinds import require_configs
from hat.tasks import BUILTIN_TASKS, load_task


@dataclass(frozen=True)
class PredictorOutputs:
    """The files of `hat predictor train|import`: the predictor, its held-out metrics (JSON), the
    held-out predictions (CSV) and their scatter plot (PNG). The workflow names each file; by
    hand, `next_to` derives the ones not given from the predictor's name (P.metrics.json,
    P.predictions.csv, P.png)."""

    predictor: Path
    metrics: Path
    predictions: Path
    plot: Path

    @classmethod
    def next_to(cls, predictor, **given) -> PredictorOutputs:
        endings = {"metrics": ".metrics.json", "predictions": ".predictions.csv", "plot": ".png"}
        return cls(Path(predictor), **outputs_beside(predictor, endings, given))


def write_predictor_files(
    outputs: PredictorOutputs, predictor: Predictor, rows, measured_ms, predicted_ms, drift_flags, learning_curve=None
) -> dict[str, Any]:
    """The held-out predictions (CSV), their plot, the metrics JSON, then the predictor file last;
    returns the metrics. `rows` index the held-out rows in the training CSV."""
    write_heldout_csv(outputs.predictions, rows, measured_ms, predicted_ms, drift_flags)
    write_heldout_plot(outputs.plot, measured_ms, predicted_ms, drift_flags, predictor.meta, learning_curve)
    metrics = {"predictor": outputs.predictor.name, "kind": predictor.kind, **predictor.metrics}
    write_text_atomic(outputs.metrics, json.dumps(metrics, indent=1) + "\n")
    save_predictor(predictor, outputs.predictor)
    return metrics


def write_heldout_csv(path, indices, measured_ms, predicted_ms, drift_flags) -> None:
    """One line per held-out row: its row number in the training CSV (1-based), measured and
    predicted total ms, signed error %, and the drift flag when the CSV recorded one."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(["row", "measured_ms", "predicted_ms", "error_pct", "drift_flag"])
        for index, measured, predicted, flag in zip(indices, measured_ms, predicted_ms, drift_flags):
            error = 100 * (predicted - measured) / measured
            writer.writerow([index + 1, repr(float(measured)), repr(float(predicted)), f"{error:.3f}", flag or ""])


def write_heldout_plot(path, measured_ms, predicted_ms, drift_flags, meta: dict[str, Any], learning_curve=None) -> None:
    """Predicted vs measured on the held-out rows, with the ±10 % band and the 90 % upper bound
    (rows above its line are covered); rows the drift guard flagged (not scored, see
    `build_predictor`) in red. With `learning_curve` (the adaptive recording's, from the dataset
    sidecar) a second panel shows rows -> out-of-fold ±10 % share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = meta["metrics"]
    panels = 2 if learning_curve else 1
    figure, all_axes = plt.subplots(1, panels, figsize=(5 * panels, 5), squeeze=False)
    axes = all_axes[0][0]
    low, high = float(min(measured_ms.min(), predicted_ms.min())), float(max(measured_ms.max(), predicted_ms.max()))
    line = np.array([low, high])
    axes.plot(line, line, color="black", linewidth=1, label="exact")
    axes.fill_between(line, 0.9 * line, 1.1 * line, color="grey", alpha=0.25, label="±10 %")
    title = f"MAPE {metrics['mape_pct']:.1f} %, ±10 % {metrics['within_10_pct']:.0f} %"
    if meta.get("interval"):
        factor = upper_factor(meta["interval"]["scores"].tolist(), 0.9)
        coverage = metrics["upper_bound_coverage_pct"]["0.9"]
        axes.plot(line, line / factor, color="green", linestyle="--", label=f"90 % upper bound (×{factor:.3f})")
        title += f", 90 % bound covers {coverage:.0f} %"
    flagged = np.array([flag == 1 for flag in drift_flags], dtype=bool)  # [N]
    axes.scatter(measured_ms[~flagged], predicted_ms[~flagged], s=6, alpha=0.6)
    if flagged.any():
        axes.scatter(measured_ms[flagged], predicted_ms[flagged], s=6, color="red", label="drift-flagged")
    axes.set_xlabel("measured latency (ms)")
    axes.set_ylabel("predicted latency (ms)")
    axes.set_title(f"{meta['task']} / {meta['hardware']} ({meta['kind']}): {title}", fontsize=8)
    axes.legend(loc="upper left")
    if learning_curve:
        curve_axes = all_axes[0][1]
        points = [p for p in learning_curve if p.get("within_10_pct") is not None]
        curve_axes.plot([p["rows"] for p in points], [p["within_10_pct"] for p in points], marker="o")
        curve_axes.set_xlabel("rows recorded")
        curve_axes.set_ylabel("out-of-fold share within ±10 % (%)")
        curve_axes.set_title("--samples auto: learning curve", fontsize=8)
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
