"""The predictor kinds, in one table: how each is fitted, how it predicts, what it needs.

- `cost` (default): a linear model over analytic cost terms of the architecture — per-layer FLOP
  and memory terms of HAT's measurement protocol (spec §3, shapes as in §7.2; `terms.py`) — fitted
  with `cost.fit_cost`. Every term is a per-layer sum (Σ_layers e·f, Σ heads, ...), which the 10
  averaged HAT features times the layer counts give exactly: HAT's CSVs and ours yield the same.
- `cost-per-layer`: the same fit over those terms plus per-layer lookup terms that only the
  per-layer config gives (`terms.per_layer_terms`), for CSVs recorded with `hat latency dataset`;
  it needs the per-layer config of every row it fits or predicts.
- `hat-mlp`: HAT's recipe for comparison (`mlp.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hat.errors import HatError
from hat.predictor.cost import FIT_DESCRIPTION, fit_cost
from hat.predictor.mlp import HAT_FEATURE_NORM, HAT_LAT_NORM_MS, HAT_MLP_RECIPE, mlp_forward, train_hat_mlp
from hat.predictor.terms import COST_TERMS, cost_terms, layer_choices, per_layer_term_names, per_layer_terms
from hat.space import FEATURE_NAMES, SubConfig

Configs = Sequence[SubConfig | None] | None


@dataclass(frozen=True)
class Kind:
    """One predictor kind. `fit(kind, features [N, 10], target_ms [N], seed, hardware, configs, space)`
    returns the file's `features`, `normalization`, `parameters` and `fit`; `predict(meta, features,
    configs)` gives [N] ms from a file's dict."""

    name: str
    needs_configs: bool  # fits and predicts from every row's per-layer config
    calibrated: bool  # the file carries a conformal interval (`interval.py`: CALIBRATION_FOLDS more fits)
    fit: Callable[..., dict[str, Any]]
    predict: Callable[[dict[str, Any], np.ndarray, Configs], np.ndarray]


def model_terms(features: np.ndarray, configs: Configs, choices: dict[str, list[int]] | None) -> np.ndarray:
    """The raw terms a cost kind is linear in: [N, 14] sums, + per-layer terms when it has `choices`."""
    if choices is None:
        return cost_terms(features)
    if configs is None:
        raise HatError("a cost-per-layer predictor needs the per-layer config of every SubTransformer")
    return np.concatenate([cost_terms(features), per_layer_terms(configs, choices)], axis=1)


def _fit_cost_kind(kind: Kind, features, target_ms, seed, hardware, configs, space) -> dict[str, Any]:
    import torch

    choices = layer_choices(space) if kind.needs_configs else None
    coefficients, term_scale = fit_cost(model_terms(features, configs, choices), target_ms)
    definitions = {"inputs": list(FEATURE_NAMES), "terms": dict(COST_TERMS)}
    if choices is not None:
        definitions = {**definitions, "layer_choices": choices, "layer_terms": per_layer_term_names(choices)}
    return {
        "features": definitions,
        "normalization": {"term_scale": term_scale.tolist()},
        "parameters": {"coefficients": torch.tensor(coefficients, dtype=torch.float64)},
        "fit": FIT_DESCRIPTION,
    }


def _predict_cost_kind(meta: dict[str, Any], features: np.ndarray, configs: Configs) -> np.ndarray:
    terms = model_terms(features, configs, meta["features"].get("layer_choices"))
    coefficients = meta["parameters"]["coefficients"].double().numpy()
    return terms / np.array(meta["normalization"]["term_scale"]) @ coefficients


def _fit_mlp_kind(kind: Kind, features, target_ms, seed, hardware, configs, space) -> dict[str, Any]:
    lat_norm = HAT_LAT_NORM_MS.get(hardware, float(np.median(target_ms)))
    return {
        "features": {"inputs": list(FEATURE_NAMES)},
        "normalization": {"feature_norm": list(HAT_FEATURE_NORM), "lat_norm_ms": lat_norm},
        "parameters": train_hat_mlp(features, target_ms, lat_norm, seed),
        "fit": {"loss": "mse", **HAT_MLP_RECIPE, "seed": seed},
    }


def _predict_mlp_kind(meta: dict[str, Any], features: np.ndarray, configs: Configs) -> np.ndarray:
    import torch

    normalization = meta["normalization"]
    inputs = torch.tensor(features / np.array(normalization["feature_norm"]), dtype=torch.float32)
    with torch.inference_mode():
        return mlp_forward(meta["parameters"], inputs).double().numpy() * normalization["lat_norm_ms"]


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("cost", needs_configs=False, calibrated=True, fit=_fit_cost_kind, predict=_predict_cost_kind),
        Kind("cost-per-layer", needs_configs=True, calibrated=True, fit=_fit_cost_kind, predict=_predict_cost_kind),
        # HAT's recipe takes minutes per fit: no cross-fitted interval
        Kind("hat-mlp", needs_configs=False, calibrated=False, fit=_fit_mlp_kind, predict=_predict_mlp_kind),
    )
}
METHODS = tuple(KINDS)  # the kind strings (`--method` choices, the file's `kind`)


def get_kind(name: str) -> Kind:
    if name not in KINDS:
        raise HatError(f"unknown predictor method '{name}' (choose from: {', '.join(METHODS)})")
    return KINDS[name]


def fit_predictor(
    features: np.ndarray,
    target_ms: np.ndarray,
    method: str,
    seed: int,
    hardware: str,
    configs: Configs = None,
    space: Any = None,
) -> dict[str, Any]:
    """Fit one kind; returns the file's `kind`, `features`, `normalization`, `parameters`, `fit`.
    `cost-per-layer` needs `configs` (one per row) and the latency `space` they come from."""
    kind = get_kind(method)
    return {"kind": kind.name, **kind.fit(kind, features, target_ms, seed, hardware, configs, space)}


def require_configs(configs: Configs, rows: int, file: Any) -> None:
    """A kind that `needs_configs` fits and predicts from every row's per-layer config: name the first row without."""
    missing = 0 if configs is None else next((i for i, c in enumerate(configs) if c is None), None)
    if missing is not None or len(configs) != rows:
        raise HatError(
            f"{file}: row {(missing or 0) + 1} has no subtransformer config, which cost-per-layer needs for every "
            "row (CSVs from `hat latency dataset` have it, HAT's do not)"
        )
