"""`hat predictor train`: fit on a seeded 80 % of a latency CSV, score on the held-out 20 %, write
the predictor file and the files next to it (`report.py`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hat.errors import HatError
from hat.predictor.file import Predictor, file_header
from hat.predictor.interval import CALIBRATION_FOLDS, SCORE, conformal_scores, coverage, out_of_fold_predictions
from hat.predictor.kinds import Configs, fit_predictor, get_kind, require_configs
from hat.predictor.metrics import heldout_split, latency_metrics
from hat.predictor.report import PredictorOutputs

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
    `configs` are the rows' per-layer configs (None where a row has none); `cost-per-layer` needs all.
    A calibrated kind also gets its conformal interval from the training rows (`interval.py`) and
    the interval's coverage on the held-out rows."""
    import torch

    kind = get_kind(method)
    if kind.needs_configs:
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

    fit_inputs = {"method": method, "seed": seed, "hardware": hardware, "configs": configs, "space": task.latency_space}
    meta = {
        **file_header(task, hardware),
        **_fit(features, target_ms, fit_rows, **fit_inputs),
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
    if kind.calibrated:
        scores = conformal_scores(target_ms[fit_rows], out_of_fold_ms(features, target_ms, fit_rows, **fit_inputs))
        meta["interval"] = {
            "score": SCORE,
            "method": f"cross-conformal: {CALIBRATION_FOLDS}-fold out-of-fold scores of the training rows",
            "scores": torch.tensor(scores, dtype=torch.float64),
        }
        meta["metrics"]["upper_bound_coverage_pct"] = coverage(scores, target_ms[heldout][scored], predicted_ms[scored])
    return Fitted(predictor, HeldOut(heldout, predicted_ms))


def _fit(features, target_ms, rows, *, method, seed, hardware, configs, space) -> dict[str, Any]:
    return fit_predictor(features[rows], target_ms[rows], method, seed, hardware, _pick(configs, rows), space)


def out_of_fold_ms(
    features: np.ndarray,
    target_ms: np.ndarray,
    rows: np.ndarray,
    *,
    method: str,
    seed: int,
    hardware: str,
    configs: Configs = None,
    space: Any = None,
) -> np.ndarray:
    """[len(rows)] predictions of `rows`, each by `method` fitted on the other folds of `rows`
    (`interval.out_of_fold_predictions`): the conformal scores and the learning curve come from them."""
    inputs = {"method": method, "seed": seed, "hardware": hardware, "configs": configs, "space": space}

    def fit_and_predict(train: np.ndarray, predict: np.ndarray) -> np.ndarray:
        predictor = Predictor(_fit(features, target_ms, rows[train], **inputs))
        return predictor.predict(features[rows[predict]], _pick(configs, rows[predict]))

    return out_of_fold_predictions(len(rows), seed, fit_and_predict)


def _pick(configs: Configs, rows: np.ndarray) -> list | None:
    return None if configs is None else [configs[i] for i in rows]


def train_predictor(
    csv: Path, *, task: Any, hardware: str, outputs: PredictorOutputs, method: str, seed: int
) -> dict[str, Any]:
    """Read the CSV, fit and score, write `outputs` (the predictor file last); returns the metrics."""
    from hat.io import sha256_file
    from hat.latency.table import read_latency_csv
    from hat.predictor.report import write_predictor_files
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
        data_info={
            "file": Path(csv).name,
            "sha256": sha256_file(csv),
            "rows": len(rows),
            **recorded_runtime(csv),
            "vocab_size": measured_vocab_size(csv),
        },
        drift_flagged=np.array([flag == 1 for flag in drift_flags]),
        configs=[row.config for row in rows],
    )
    flags = [drift_flags[i] for i in heldout.rows]
    measured = target_ms[heldout.rows]
    curve = _learning_curve(Path(csv))
    return write_predictor_files(outputs, predictor, heldout.rows, measured, heldout.predicted_ms, flags, curve)


def measured_vocab_size(csv_path: Path) -> int | None:
    """The output vocabulary the CSV was measured with (its `hat latency dataset` sidecar), or None
    (HAT's published CSVs and others without a sidecar do not say)."""
    from hat.latency.dataset import sidecar_path
    from hat.report import read_json_object

    sidecar = sidecar_path(csv_path)
    return read_json_object(sidecar).get("vocab_size") if sidecar.is_file() else None


def learning_point(features: np.ndarray, target_ms: np.ndarray, drift_flagged: np.ndarray, seed: int) -> dict[str, Any]:
    """How well the default predictor does on rows it has not seen, from these rows alone: the
    out-of-fold ±10 % share and MAPE over the steady rows (None with fewer than MIN_TRAIN_ROWS + 5)."""
    steady = np.flatnonzero(~np.asarray(drift_flagged, dtype=bool))
    point: dict[str, Any] = {"steady_rows": len(steady), "within_10_pct": None, "mape_pct": None}
    if len(steady) >= MIN_TRAIN_ROWS + 5:
        predicted = out_of_fold_ms(features, target_ms, steady, method="cost", seed=seed, hardware="")
        metrics = latency_metrics(target_ms[steady], predicted)
        point.update(within_10_pct=metrics["within_10_pct"], mape_pct=metrics["mape_pct"])
    return point


def _learning_curve(csv: Path) -> list[dict[str, Any]] | None:
    """The curve `hat latency dataset --samples auto` left in the CSV's sidecar, if any."""
    from hat.latency.dataset import sidecar_path

    sidecar = sidecar_path(csv)
    return json.loads(sidecar.read_text()).get("adaptive", {}).get("curve") if sidecar.exists() else None
