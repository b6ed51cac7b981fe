"""Calibrated upper bounds on predicted latency (issue #17): a conformal interval from the residuals
of rows a fit did not see.

A row's score is its relative error `measured / predicted − 1` (positive when the device was
slower than predicted). The scores are cross-fitted: the training rows are cut into CALIBRATION_FOLDS
seeded folds and each fold is predicted by the same kind fitted on the other folds, so every score
is out-of-sample (cross-conformal; a plain split would spend rows on calibration only). At
confidence c the upper bound is `predicted · (1 + q)`, q the ⌈(n + 1)·c⌉-th smallest of the n
scores — the split-conformal quantile, which covers a new exchangeable row with probability ≥ c —
and +∞ when ⌈(n + 1)·c⌉ > n (too few rows for that confidence). The file carries the sorted scores,
so any confidence can be asked for later; its metrics give the bound's coverage on the held-out rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from hat.errors import HatError

CALIBRATION_FOLDS = 5
REPORTED_CONFIDENCES = (0.8, 0.9, 0.95)  # coverage on the held-out rows is reported at these levels
SCORE = "measured / predicted − 1"


def out_of_fold_predictions(
    rows: int, seed: int, fit_and_predict: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """[rows] predictions, each from a fit that did not see its row: CALIBRATION_FOLDS seeded folds;
    `fit_and_predict(train, predict)` fits on the row indices `train` and predicts the indices `predict`."""
    folds = np.array_split(np.random.default_rng(seed).permutation(rows), CALIBRATION_FOLDS)
    predicted = np.empty(rows)
    for fold in folds:
        predicted[fold] = fit_and_predict(np.setdiff1d(np.arange(rows), fold), fold)
    return predicted


def conformal_scores(measured_ms: np.ndarray, out_of_fold_ms: np.ndarray) -> np.ndarray:
    """The sorted scores (SCORE) of rows predicted out of fold."""
    return np.sort(measured_ms / out_of_fold_ms - 1)


def check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise HatError(f"--confidence must be between 0 and 1 (e.g. 0.9), got {confidence:g}")


def upper_factor(scores: Sequence[float], confidence: float) -> float:
    """1 + the conformal quantile of `scores` (sorted) at `confidence`; +∞ if there are too few."""
    check_confidence(confidence)
    rank = math.ceil((len(scores) + 1) * confidence)
    return math.inf if rank > len(scores) else 1.0 + float(scores[rank - 1])


def budget_probability(scores: Sequence[float], predicted_ms: float, budget_ms: float) -> float:
    """Conformal estimate of P(measured <= budget) for a prediction: #{s : predicted·(1 + s) <= budget} / (n + 1)."""
    return float(np.searchsorted(np.asarray(scores), budget_ms / predicted_ms - 1, side="right") / (len(scores) + 1))


def coverage(scores: Sequence[float], measured_ms: np.ndarray, predicted_ms: np.ndarray) -> dict[str, float]:
    """Share (%) of rows whose measured latency is within the upper bound, at REPORTED_CONFIDENCES."""
    covered = {c: measured_ms <= predicted_ms * upper_factor(scores, c) for c in REPORTED_CONFIDENCES}
    return {str(c): float(100 * inside.mean()) for c, inside in covered.items()}
