"""`hat predictor train`: fit on a seeded 80 % of a latency CSV, score on the held-out 20 %, write
the predictor file and the files next to it (`report.py`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hat.errors import HatError
from hat.predictor.file import FILE_FORMAT, FILE_VERSION, Predictor, save_predictor
from hat.predictor.kinds import Configs, fit_predictor, get_kind, require_configs
from hat.predictor.metrics import heldout_split, latency_metrics

MIN_TRAIN_ROWS = 20  # a 14-term robust fit needs a comfortable margin over its parameter count


class HeldOut(NamedTuple):
    """The held-out rows (indices into the CSV, drift-flagged ones included) and their predictions."""

    rows: np.ndarray  # [H] int
    predicted_ms: np.ndarray  # [H]


class Fitted(NamedTuple):
    predictor: Predictor
    heldout: HeldOut


def build_predictor(
    features: np.ndarray,
    target_ms: np.ndarray,
    *,
    method: str,
    seed: int,
    task: Any,
    hardware: str,
    data_info: dict[str, Any],
    drift_flagged: np.ndarray | None = None,
    configs: Configs = None,
) -> Fitted:
    """Fit on a seeded 80 % and measure on the held-out 20 %; returns the predictor (fitted on the
    training part only, so its metrics describe exactly the saved model) and the held-out rows.

    `drift_flagged` ([N] bool, from our CSVs' drift_flag column) marks rows the drift guard could
    not confirm: the split stays the same, but they are left out of the fit and of the metrics,
    which then describe the device in its steady state. HAT's CSVs have no flags.
    `configs` are the rows' per-layer configs (None where a row has none); `cost-per-layer` needs all."""
    if get_kind(method).needs_configs:
        require_configs(configs, len(target_ms), data_info["file"])
    train, heldout = heldout_split(len(target_ms), seed)
    if len(train) < MIN_TRAIN_ROWS:
        raise HatError(f"{data_info['file']}: {len(target_ms)} rows, at least {MIN_TRAIN_ROWS + 5} needed")
    steady = np.ones(len(target_ms), dtype=bool) if drift_flagged is None else ~np.asarray(drift_flagged, dtype=bool)
    fit_rows = train[steady[train]]
    if len(fit_rows) < MIN_TRAIN_ROWS or not steady[heldout].any():
        raise HatError(
            f"{data_info['file']}: {int(steady.sum())} of {len(target_ms)} rows not flagged for drift, "
            f"at least {MIN_TRAIN_ROWS + 5} needed (re-record the flagged rows on a steady device)"
        )
    meta = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        **fit_predictor(
            features[fit_rows],
            target_ms[fit_rows],
            method,
            seed,
            hardware,
            configs=_pick(configs, fit_rows),
            space=task.latency_space,
        ),
        "target": "latency_mean_encoder + latency_mean_decoder (ms)",
        "task": task.name,
        "space": task.space.name,
        "latency_space": task.latency_space.name,
        "hardware": hardware,
        "training_data": {
            **data_info,
            "split_seed": seed,
            "train_rows": len(fit_rows),
            "heldout_rows": int(steady[heldout].sum()),
            "drift_flagged_rows": int((~steady).sum()),
        },
    }
    predictor = Predictor(meta)
    predicted_ms = predictor.predict(features[heldout], _pick(configs, heldout))  # [H]
    scored = steady[heldout]
    meta["metrics"] = latency_metrics(target_ms[heldout][scored], predicted_ms[scored])
    return Fitted(predictor, HeldOut(heldout, predicted_ms))


def _pick(configs: Configs, rows: np.ndarray) -> list | None:
    return None if configs is None else [configs[i] for i in rows]


def train_predictor(csv: Path, *, task: Any, hardware: str, out: Path, method: str, seed: int) -> dict[str, Any]:
    """Read the CSV, fit and score, write OUT (+ .metrics.json, .predictions.csv, .png); returns the metrics."""
    from hat.io import sha256_file, write_text_atomic
    from hat.latency.table import read_latency_csv
    from hat.predictor.report import write_heldout_csv, write_heldout_plot
    from hat.runtime import recorded_runtime

    rows = read_latency_csv(csv, space=task.latency_space, min_rows=MIN_TRAIN_ROWS + 5)
    features = np.array([row.features for row in rows])  # [N, 10]
    target_ms = np.array([row.total_ms for row in rows])  # [N]
    drift_flags = [row.drift_flag for row in rows]  # all None for HAT's CSVs
    predictor, heldout = build_predictor(
        features,
        target_ms,
        method=method,
        seed=seed,
        task=task,
        hardware=hardware,
        # the runtime/precision it was measured in: the search refuses the predictor for another
        data_info={"file": Path(csv).name, "sha256": sha256_file(csv), "rows": len(rows), **recorded_runtime(csv),
                   "vocab_size": measured_vocab_size(csv)},
        drift_flagged=np.array([flag == 1 for flag in drift_flags]),
        configs=[row.config for row in rows],
    )
    flags = [drift_flags[i] for i in heldout.rows]
    measured = target_ms[heldout.rows]
    write_heldout_csv(out.with_suffix(".predictions.csv"), heldout.rows, measured, heldout.predicted_ms, flags)
    write_heldout_plot(out.with_suffix(".png"), measured, heldout.predicted_ms, flags, predictor.meta)
    metrics = {"predictor": out.name, "kind": predictor.kind, **predictor.metrics}
    write_text_atomic(out.with_suffix(".metrics.json"), json.dumps(metrics, indent=1) + "\n")
    save_predictor(predictor, out)
    return metrics


def measured_vocab_size(csv_path: Path) -> int | None:
    """The output vocabulary the CSV was measured with (its `hat latency dataset` sidecar), or None
    (HAT's published CSVs and others without a sidecar do not say)."""
    from hat.latency.dataset import sidecar_path
    from hat.report import read_json_object

    sidecar = sidecar_path(csv_path)
    return read_json_object(sidecar).get("vocab_size") if sidecar.is_file() else None
