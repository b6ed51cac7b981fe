"""Held-out split and the accuracy figures of a predictor (RMSE, MAPE, ±5/±10 % shares, Kendall τ)."""

from __future__ import annotations

import numpy as np

HELDOUT_FRACTION = 0.2


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
