"""The default fit: a linear model over cost terms (`terms.py`), robust to drifted blocks and tuned
for the share of rows within ±10 %.

`fit_huber` gives a Huber fit on relative residuals (rows measured 15–30 % slow in HAT's drifted
blocks count linearly, not squared); `fit_tolerance` refines it to put as many rows as possible
within ±10 %; `fit_cost` chains the two on terms scaled to unit spread.

Every coefficient is constrained to be >= 0: a term is a cost (FLOPs, bytes, layers, heads), and
each term grows with every width, head count and depth, so a SubTransformer no larger than another
in every dimension is never predicted slower — however few rows the fit saw (issue #17: a free fit
on 40 rows gave a decoder layer a negative cost and ranked a smaller model slower).
"""

from __future__ import annotations

import numpy as np

from hat.latency.measure import robust_scale

HUBER_K = 1.345  # Huber's tuning constant: 95 % efficiency under Gaussian noise
TOLERANCE = 0.10  # the share of predictions within ±10 % is the figure the search relies on
SOFTNESS = 0.01  # width (in relative error) of the sigmoid edge of the ±10 % window
HUBER_WEIGHT = 0.5  # weight of the Huber term that keeps rows centred inside the window


def nonnegative_least_squares(matrix: np.ndarray, target: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """argmin ||matrix·β − target||² subject to β >= 0 (Lawson & Hanson's active-set method).

    Columns whose coefficient would be negative are held at 0; the rest are solved by least squares
    on the normal equations (T×T, T the term count; minimum norm, so collinear columns are fine).
    `start` (β >= 0, e.g. the previous IRLS step's solution) is a warm start: its positive columns
    are the first free set, so a problem close to the last one takes one or two solves, not T."""
    gram, moment = matrix.T @ matrix, matrix.T @ target  # [T, T], [T]
    columns = len(moment)
    coefficients = np.zeros(columns) if start is None else np.maximum(start, 0.0)
    free = coefficients > 0
    if free.any():
        coefficients, free = _descend(gram, moment, coefficients, free)
    tolerance = 1e-10 * np.abs(moment).max()
    for _ in range(3 * columns):
        gradient = moment - gram @ coefficients  # [T]: −½ d||·||²/dβ
        if free.all() or gradient[~free].max() <= tolerance:
            break
        free[np.argmax(np.where(free, -np.inf, gradient))] = True
        coefficients, free = _descend(gram, moment, coefficients, free)
    return coefficients


def _descend(gram, moment, coefficients, free) -> tuple[np.ndarray, np.ndarray]:
    """Lawson & Hanson's inner loop: from the feasible `coefficients`, least squares over the `free`
    columns, stepping back to the boundary (and fixing that column at 0) while any would turn negative."""
    columns = len(moment)
    while free.any():
        trial = np.zeros(columns)
        trial[free] = np.linalg.lstsq(gram[np.ix_(free, free)], moment[free], rcond=None)[0]
        if (trial[free] > 0).all():
            return trial, free
        blocked = np.flatnonzero(free & (trial <= 0))  # step from the feasible point until one hits 0
        ratios = coefficients[blocked] / (coefficients[blocked] - trial[blocked])
        coefficients = coefficients + ratios.min() * (trial - coefficients)
        free = free & (coefficients > 0)
        free[blocked[np.argmin(ratios)]] = False  # exactly at 0, whatever rounding left there
        coefficients[~free] = 0.0
    return coefficients, free


def fit_huber(terms: np.ndarray, target_ms: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Non-negative coefficients minimizing Σ Huber((y − Xβ)/y) by iteratively reweighted least squares.

    Residuals are relative (a row 3 % off counts the same at 100 ms and 5 s). The Huber threshold
    is HUBER_K robust standard deviations (MAD/0.6745) of the current residuals, so it adapts to
    each device's noise: rows in drifted blocks (15–30 % slow) count linearly, not squared.
    `terms` must already be normalized (columns of order 1); each step is a non-negative least
    squares (`nonnegative_least_squares`), which also handles rank deficiency (e.g. a constant
    encoder depth).
    """
    relative = 1.0 / target_ms  # [N]
    weights = np.ones_like(target_ms)
    coefficients = None  # the first step starts from scratch, each later one from the previous solution
    for _ in range(iterations):
        row_scale = np.sqrt(weights) * relative
        coefficients = nonnegative_least_squares(terms * row_scale[:, None], target_ms * row_scale, coefficients)
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
    Huber fit's. Non-convex, hence the Huber start; solved with L-BFGS in float64 over the terms the
    start uses (coefficient > 0; the others stay 0). A coefficient the refinement would make negative
    is set to 0 and the rest refined again, so every coefficient stays >= 0.
    """
    threshold = HUBER_K * robust_scale(terms @ start / target_ms - 1)
    coefficients = np.maximum(start, 0.0)
    for _ in range(len(coefficients)):
        used = coefficients > 0
        coefficients[used] = _refine(terms[:, used] / target_ms[:, None], coefficients[used], threshold)
        if (coefficients >= 0).all():
            break
        coefficients = np.maximum(coefficients, 0.0)
    return coefficients


def _refine(scaled: np.ndarray, start: np.ndarray, threshold: float) -> np.ndarray:
    """fit_tolerance's loss minimized by L-BFGS from `start`; `scaled` = terms / measured, so scaled @ β − 1 = r."""
    import torch

    scaled = torch.tensor(scaled, dtype=torch.float64)
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
    "constraint": "every coefficient >= 0 (non-negative least squares steps; L-BFGS over the positive ones)",
    "loss": "sigmoid count outside ±tolerance + huber_weight · huber(residual / (k · robust σ of start))",
    "tolerance": TOLERANCE,
    "softness": SOFTNESS,
    "huber_weight": HUBER_WEIGHT,
    "solver": "L-BFGS (torch, float64)",
}
