"""Latency predictors (spec §4) and their self-describing files.

Three kinds:
- `cost` (default): a linear model over analytic cost terms of the architecture — per-layer FLOP
  and memory terms of HAT's measurement protocol (spec §3, shapes as in §7.2; `terms.py`) — fitted
  with a Huber loss on relative residuals, so the drifted blocks in HAT's CSVs (rows measured
  15–30 % slow) do not pull the fit, then refined to put as many rows as possible within ±10 %
  (`fit_tolerance`). Every term is a per-layer sum (Σ_layers e·f, Σ heads, ...), which the 10
  averaged HAT features times the layer counts give exactly: HAT's CSVs and ours yield the same.
- `cost-per-layer`: the same fit over those terms plus per-layer lookup terms that only the
  per-layer config gives (`terms.per_layer_terms`), for CSVs recorded with `hat latency dataset`;
  it needs the per-layer config of every row it fits or predicts.
- `hat-mlp`: HAT's recipe for comparison: MLP 10-400-400-400-400-1 on features divided by HAT's
  feature-norm, target divided by lat-norm, MSE, Adam lr 1e-5, 5000 steps of 128.

A predictor file is a dict of plain values and tensors, saved with `hat.io.save_checkpoint` and
loaded with `weights_only=True`: kind, feature definitions, normalization, task and space names,
hardware, training-data sha256, held-out metrics and parameters. The search needs nothing else.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hat.errors import HatError
from hat.predictor.terms import COST_TERMS, cost_terms, layer_choices, per_layer_term_names, per_layer_terms
from hat.space import FEATURE_NAMES, SubConfig, hat_features

FILE_FORMAT = "hat-latency-predictor"
FILE_VERSION = 1
METHODS = ("cost", "cost-per-layer", "hat-mlp")
COST_KINDS = ("cost", "cost-per-layer")
HELDOUT_FRACTION = 0.2
MIN_TRAIN_ROWS = 20  # a 14-term robust fit needs a comfortable margin over its parameter count

HUBER_K = 1.345  # Huber's tuning constant: 95 % efficiency under Gaussian noise


def robust_scale(relative_residual: np.ndarray) -> float:
    """Robust standard deviation of relative residuals: MAD / 0.6745."""
    return float(np.median(np.abs(relative_residual - np.median(relative_residual))) / 0.6745)


def fit_huber(terms: np.ndarray, target_ms: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Coefficients minimizing Σ Huber((y − Xβ)/y) by iteratively reweighted least squares.

    Residuals are relative (a row 3 % off counts the same at 100 ms and 5 s). The Huber threshold
    is HUBER_K robust standard deviations (MAD/0.6745) of the current residuals, so it adapts to
    each device's noise: rows in drifted blocks (15–30 % slow) count linearly, not squared.
    `terms` must already be normalized (columns of order 1); rank deficiency (e.g. a constant
    encoder depth) is handled by the minimum-norm least-squares solution.
    """
    relative = 1.0 / target_ms  # [N]
    weights = np.ones_like(target_ms)
    coefficients = np.zeros(terms.shape[1])
    for _ in range(iterations):
        row_scale = np.sqrt(weights) * relative
        coefficients = np.linalg.lstsq(terms * row_scale[:, None], target_ms * row_scale, rcond=None)[0]
        residual = (target_ms - terms @ coefficients) * relative
        threshold = HUBER_K * robust_scale(residual)
        weights = np.where(np.abs(residual) <= threshold, 1.0, threshold / np.maximum(np.abs(residual), 1e-12))
    return coefficients


TOLERANCE = 0.10  # the share of predictions within ±10 % is the figure the search relies on
SOFTNESS = 0.01  # width (in relative error) of the sigmoid edge of the ±10 % window
HUBER_WEIGHT = 0.5  # weight of the Huber term that keeps rows centred inside the window


def fit_tolerance(terms: np.ndarray, target_ms: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Refine `start` (a Huber fit): minimize Σ σ((|r| − TOLERANCE)/SOFTNESS) + HUBER_WEIGHT·Σ Huber(r/s).

    r = predicted/measured − 1 is the relative error the metrics score; the sigmoid term is a smooth
    count of rows outside ±TOLERANCE, so rows near the edge of the window (CPU timings are noisy and
    right-skewed) are pulled in, while rows far outside it — the drifted blocks, 15–30 % slow — have
    a flat loss and no pull. The Huber term (threshold HUBER_K·s, s the robust scale of the start's
    residuals) keeps the rows inside the window centred, so MAPE and the ±5 % share stay close to the
    Huber fit's. Non-convex, hence the Huber start; solved with L-BFGS in float64.
    """
    import torch

    scaled = torch.tensor(terms / target_ms[:, None], dtype=torch.float64)  # X/y: scaled @ β − 1 = r
    threshold = HUBER_K * robust_scale(terms @ start / target_ms - 1)
    coefficients = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [coefficients], max_iter=500, tolerance_grad=1e-10, tolerance_change=1e-12, line_search_fn="strong_wolfe"
    )

    def loss():
        optimizer.zero_grad()
        relative = scaled @ coefficients - 1
        outside = torch.sigmoid((relative.abs() - TOLERANCE) / SOFTNESS).sum()
        huber = torch.nn.functional.huber_loss(relative / threshold, torch.zeros_like(relative), reduction="sum")
        total = outside + HUBER_WEIGHT * huber
        total.backward()
        return total

    optimizer.step(loss)
    return coefficients.detach().numpy()


def fit_cost(terms: np.ndarray, target_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The default fit on raw terms [N, T] (column 0 the constant): (coefficients, term_scale),
    predictions = terms / term_scale @ coefficients. Each term is scaled to unit spread first."""
    term_scale = np.where(terms.std(axis=0) > 0, terms.std(axis=0), 1.0)
    term_scale[0] = 1.0  # the constant stays 1
    scaled = terms / term_scale
    return fit_tolerance(scaled, target_ms, fit_huber(scaled, target_ms)), term_scale


# --------------------------------------------------------------------------------------------
# HAT's MLP recipe (spec §4)

HAT_FEATURE_NORM = (640, 6, 2048, 6, 640, 6, 2048, 6, 6, 2)
HAT_LAT_NORM_MS = {"titanxp": 200.0, "xeon": 300.0, "raspberrypi": 5000.0}
HAT_MLP_RECIPE = {"hidden": 400, "hidden_layers": 4, "lr": 1e-5, "steps": 5000, "batch": 128}


def _mlp_layers(hidden: int, hidden_layers: int) -> list[tuple[int, int]]:
    """(in, out) of each Linear: 10 → hidden, (hidden_layers − 1) × hidden → hidden, hidden → 1."""
    return [(len(FEATURE_NAMES), hidden)] + [(hidden, hidden)] * (hidden_layers - 1) + [(hidden, 1)]


def _mlp_forward(parameters: dict[str, Any], inputs):
    """inputs [N, 10] (normalized) -> [N] normalized latency; ReLU between layers."""
    import torch

    hidden = inputs
    count = len([k for k in parameters if k.endswith(".weight")])
    for index in range(count):
        hidden = torch.nn.functional.linear(hidden, parameters[f"{index}.weight"], parameters[f"{index}.bias"])
        if index < count - 1:
            hidden = torch.relu(hidden)
    return hidden[:, 0]


def train_hat_mlp(features: np.ndarray, target_ms: np.ndarray, lat_norm: float, seed: int) -> dict[str, Any]:
    """HAT's recipe; returns the parameters as a dict of tensors ('0.weight', '0.bias', ...)."""
    import torch

    torch.manual_seed(seed)
    layers = [torch.nn.Linear(n_in, n_out) for n_in, n_out in _mlp_layers(400, 4)]  # PyTorch default init
    model = torch.nn.Sequential(*[m for layer in layers for m in (layer, torch.nn.ReLU())][:-1])
    optimizer = torch.optim.Adam(model.parameters(), lr=HAT_MLP_RECIPE["lr"])
    inputs = torch.tensor(features / np.array(HAT_FEATURE_NORM), dtype=torch.float32)  # [N, 10]
    targets = torch.tensor(target_ms / lat_norm, dtype=torch.float32)  # [N]
    sampler = random.Random(seed)
    batch = min(HAT_MLP_RECIPE["batch"], len(targets))
    for _ in range(HAT_MLP_RECIPE["steps"]):
        index = torch.tensor(sampler.sample(range(len(targets)), batch))  # without replacement, as HAT
        loss = torch.nn.functional.mse_loss(model(inputs[index])[:, 0], targets[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {f"{i}.{name}": p.detach().clone() for i, layer in enumerate(layers) for name, p in layer.named_parameters()}


# --------------------------------------------------------------------------------------------
# The loaded predictor


@dataclass
class Predictor:
    """A loaded predictor file. `predict_ms` is what the search calls."""

    meta: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def task(self) -> str:
        return self.meta["task"]

    @property
    def hardware(self) -> str:
        return self.meta["hardware"]

    @property
    def space_name(self) -> str:
        return self.meta["space"]

    @property
    def metrics(self) -> dict[str, float]:
        return self.meta["metrics"]

    def predict_ms(self, configs: Sequence[SubConfig]) -> np.ndarray:
        """Total latency (encoder + decoder, ms) of each config, as one batched [N] array."""
        return self.predict(np.array([hat_features(c) for c in configs], dtype=float).reshape(-1, 10), configs)

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """[N, 10] HAT features -> [N] total latency in ms (not for `cost-per-layer`)."""
        return self.predict(features, None)

    def predict(self, features: np.ndarray, configs: Sequence[SubConfig] | None) -> np.ndarray:
        """[N, 10] HAT features and, for `cost-per-layer`, the N per-layer configs -> [N] ms."""
        normalization, parameters = self.meta["normalization"], self.meta["parameters"]
        if self.kind in COST_KINDS:
            terms = model_terms(self.kind, features, configs, self.meta["features"].get("layer_choices"))
            return terms / np.array(normalization["term_scale"]) @ parameters["coefficients"].double().numpy()
        import torch

        inputs = torch.tensor(features / np.array(normalization["feature_norm"]), dtype=torch.float32)
        with torch.inference_mode():
            return _mlp_forward(parameters, inputs).double().numpy() * normalization["lat_norm_ms"]


def model_terms(
    kind: str, features: np.ndarray, configs: Sequence[SubConfig] | None, choices: dict[str, list[int]] | None
) -> np.ndarray:
    """The raw terms a cost kind is linear in: [N, 14] sums, + per-layer terms for `cost-per-layer`."""
    if kind == "cost":
        return cost_terms(features)
    if configs is None:
        raise HatError("a cost-per-layer predictor needs the per-layer config of every SubTransformer")
    return np.concatenate([cost_terms(features), per_layer_terms(configs, choices)], axis=1)


def fit_predictor(
    features: np.ndarray,
    target_ms: np.ndarray,
    method: str,
    seed: int,
    hardware: str,
    configs: Sequence[SubConfig] | None = None,
    space: Any = None,
) -> dict[str, Any]:
    """Fit one kind; returns the file's `kind`, `features`, `normalization`, `parameters`, `fit`.
    `cost-per-layer` needs `configs` (one per row) and the latency `space` they come from."""
    import torch

    if method in COST_KINDS:
        choices = layer_choices(space) if method == "cost-per-layer" else None
        coefficients, term_scale = fit_cost(model_terms(method, features, configs, choices), target_ms)
        definitions = {"inputs": list(FEATURE_NAMES), "terms": dict(COST_TERMS)}
        if choices is not None:
            definitions = {**definitions, "layer_choices": choices, "layer_terms": per_layer_term_names(choices)}
        return {
            "kind": method,
            "features": definitions,
            "normalization": {"term_scale": term_scale.tolist()},
            "parameters": {"coefficients": torch.tensor(coefficients, dtype=torch.float64)},
            "fit": {
                "start": {
                    "loss": "huber on relative residuals",
                    "k": HUBER_K,
                    "scale": "MAD",
                    "solver": "IRLS, 50 steps",
                },
                "loss": "sigmoid count outside ±tolerance + huber_weight · huber(residual / (k · robust σ of start))",
                "tolerance": TOLERANCE,
                "softness": SOFTNESS,
                "huber_weight": HUBER_WEIGHT,
                "solver": "L-BFGS (torch, float64)",
            },
        }
    if method == "hat-mlp":
        lat_norm = HAT_LAT_NORM_MS.get(hardware, float(np.median(target_ms)))
        return {
            "kind": "hat-mlp",
            "features": {"inputs": list(FEATURE_NAMES)},
            "normalization": {"feature_norm": list(HAT_FEATURE_NORM), "lat_norm_ms": lat_norm},
            "parameters": train_hat_mlp(features, target_ms, lat_norm, seed),
            "fit": {"loss": "mse", **HAT_MLP_RECIPE, "seed": seed},
        }
    raise HatError(f"unknown predictor method '{method}' (choose from: {', '.join(METHODS)})")


# --------------------------------------------------------------------------------------------
# Evaluation


def heldout_split(rows: int, seed: int, fraction: float = HELDOUT_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) row indices: a seeded permutation, the last `fraction` held out."""
    order = np.random.default_rng(seed).permutation(rows)
    n_train = rows - int(round(rows * fraction))
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's τ-b (ties in either variable handled), O(N²) memory — fine for held-out sets."""
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    upper = np.triu_indices(len(x), k=1)
    dx, dy = dx[upper], dy[upper]
    denominator = np.sqrt(np.count_nonzero(dx) * np.count_nonzero(dy))
    return float((dx * dy).sum() / denominator) if denominator else 0.0


def latency_metrics(measured_ms: np.ndarray, predicted_ms: np.ndarray) -> dict[str, float]:
    """RMSE (ms), MAPE (%), share within ±5 / ±10 % (%), Kendall τ of the ranking."""
    relative_error = np.abs(predicted_ms - measured_ms) / measured_ms
    return {
        "rows": int(len(measured_ms)),
        "rmse_ms": float(np.sqrt(np.mean((predicted_ms - measured_ms) ** 2))),
        "mape_pct": float(100 * relative_error.mean()),
        "within_5_pct": float(100 * (relative_error <= 0.05).mean()),
        "within_10_pct": float(100 * (relative_error <= 0.10).mean()),
        "kendall_tau": kendall_tau(measured_ms, predicted_ms),
    }


# --------------------------------------------------------------------------------------------
# Files


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
    configs: Sequence[SubConfig | None] | None = None,
) -> tuple[Predictor, np.ndarray]:
    """Fit on a seeded 80 % and measure on the held-out 20 %; returns the predictor (fitted on the
    training part only, so its metrics describe exactly the saved model) and the held-out indices.

    `drift_flagged` ([N] bool, from our CSVs' drift_flag column) marks rows the drift guard could
    not confirm: the split stays the same, but they are left out of the fit and of the metrics,
    which then describe the device in its steady state. HAT's CSVs have no flags.
    `configs` are the rows' per-layer configs (None where a row has none); `cost-per-layer` needs all."""
    if method == "cost-per-layer":
        require_configs(configs, len(target_ms), data_info["file"])
    train, heldout = heldout_split(len(target_ms), seed)
    if len(train) < MIN_TRAIN_ROWS:
        raise HatError(f"{data_info['file']}: {len(target_ms)} rows, at least {MIN_TRAIN_ROWS + 5} needed")
    steady = np.ones(len(target_ms), dtype=bool) if drift_flagged is None else ~np.asarray(drift_flagged, dtype=bool)
    fit_rows, scored_rows = train[steady[train]], heldout[steady[heldout]]
    if len(fit_rows) < MIN_TRAIN_ROWS or len(scored_rows) == 0:
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
            "heldout_rows": len(scored_rows),
            "drift_flagged_rows": int((~steady).sum()),
        },
    }
    predictor = Predictor(meta)
    predicted_ms = predictor.predict(features[scored_rows], _pick(configs, scored_rows))
    meta["metrics"] = latency_metrics(target_ms[scored_rows], predicted_ms)
    return predictor, heldout


def require_configs(configs: Sequence[SubConfig | None] | None, rows: int, file: Any) -> None:
    """`cost-per-layer` fits and predicts from every row's per-layer config: name the first row without."""
    missing = 0 if configs is None else next((i for i, c in enumerate(configs) if c is None), None)
    if missing is not None or len(configs) != rows:
        raise HatError(
            f"{file}: row {(missing or 0) + 1} has no subtransformer config, which cost-per-layer needs for every "
            "row (CSVs from `hat latency dataset` have it, HAT's do not)"
        )


def _pick(configs: Sequence[SubConfig | None] | None, rows: np.ndarray) -> list[SubConfig | None] | None:
    return None if configs is None else [configs[i] for i in rows]


def save_predictor(predictor: Predictor, path: str | os.PathLike) -> None:
    from hat.io import save_checkpoint

    save_checkpoint(predictor.meta, path)


def load_predictor(path: str | os.PathLike) -> Predictor:
    """Load safely (weights_only); anything that is not a predictor file is a one-line HatError."""
    from hat.io import load_checkpoint

    meta = load_checkpoint(path)
    if not isinstance(meta, dict) or meta.get("format") != FILE_FORMAT:
        raise HatError(f"{path}: not a HAT latency predictor file")
    if meta.get("version") != FILE_VERSION or meta.get("kind") not in METHODS:
        raise HatError(f"{path}: unsupported predictor version {meta.get('version')} / kind {meta.get('kind')}")
    return Predictor(meta)
