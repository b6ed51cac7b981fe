"""The default fit: a linear model over cost terms (`terms.py`), robust to drifted blocks and tuned
for the share of rows within ±10 %.

`fit_huber` gives a Huber fit on relative residuals (rows measured 15–30 % slow in HAT's drifted
blocks count linearly, not squared); `fit_tolerance` refines it to put as many rows as possible
within ±10 %; `fit_cost` chains the two on terms scaled to unit spread.
"""

from __future__ import annotations

import numpy as np

HUBER_K = 1.345  # Huber's tuning constant: 95 % efficiency under Gaussian noise
TOLERANCE = 0.10  # the share of predictions within ±10 % is the figure the search relies on
SOFTNESS = 0.01  # width (in relative error) of the sigmoid edge of the ±10 % window
HUBER_WEIGHT = 0.5  # weight of the Huber term that keeps rows centred inside the window


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


FIT_DESCRIPTION = {
    "start": {"loss": "huber on relative residuals", "k": HUBER_K, "scale": "MAD", "solver": "IRLS, 50 steps"},
    "loss": "sigmoid count outside ±tolerance + huber_weight · huber(residual / (k · robust σ of start))",
    "tolerance": TOLERANCE,
    "softness": SOFTNESS,
    "huber_weight": HUBER_WEIGHT,
    "solver": "L-BFGS (torch, float64)",
}
