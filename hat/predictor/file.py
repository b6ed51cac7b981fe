"""The predictor file and the loaded `Predictor`.

A predictor file is a dict of plain values and tensors, saved with `hat.io.save_checkpoint` and
loaded with `weights_only=True`: format, version, kind, feature definitions, normalization, task
and space names, hardware, training-data sha256, held-out metrics and parameters. The search needs
nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hat.errors import HatError
from hat.predictor.interval import budget_probability, upper_factor
from hat.predictor.kinds import KINDS, Configs
from hat.space import SubConfig, hat_features

FILE_FORMAT = "hat-latency-predictor"
FILE_VERSION = 1


def file_header(task: Any, hardware: str) -> dict[str, Any]:
    """The keys every predictor file starts with: its format and what it predicts, for which task,
    spaces and hardware (`Predictor` and the search read them back)."""
    return {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "target": "latency_mean_encoder + latency_mean_decoder (ms)",
        "task": task.name,
        "space": task.space.name,
        "latency_space": task.latency_space.name,
        "hardware": hardware,
    }


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

    @property
    def needs_configs(self) -> bool:
        return KINDS[self.kind].needs_configs

    @property
    def interval(self) -> dict[str, Any] | None:
        """The conformal interval (`interval.py`): scores, coverage; None for kinds without one."""
        return self.meta.get("interval")

    def upper_factor(self, confidence: float) -> float:
        """Upper bound / prediction at `confidence` (e.g. 0.9: the device is no slower with probability 0.9)."""
        if self.interval is None:
            raise HatError(f"a {self.kind} predictor carries no prediction interval (retrain it with a cost kind)")
        return upper_factor(self.interval["scores"].tolist(), confidence)

    def upper_ms(self, configs: Sequence[SubConfig], confidence: float) -> np.ndarray:
        """The upper bound on each config's latency at `confidence`, [N] ms."""
        return self.predict_ms(configs) * self.upper_factor(confidence)

    def budget_probability(self, predicted_ms: float, budget_ms: float) -> float | None:
        """Estimated probability that a config predicted at `predicted_ms` runs within `budget_ms`."""
        if self.interval is None:
            return None
        return budget_probability(self.interval["scores"].numpy(), predicted_ms, budget_ms)

    def predict_ms(self, configs: Sequence[SubConfig]) -> np.ndarray:
        """Total latency (encoder + decoder, ms) of each config, as one batched [N] array."""
        return self.predict(np.array([hat_features(c) for c in configs], dtype=float).reshape(-1, 10), configs)

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """[N, 10] HAT features -> [N] total latency in ms (not for `cost-per-layer`)."""
        return self.predict(features, None)

    def predict(self, features: np.ndarray, configs: Configs) -> np.ndarray:
        """[N, 10] HAT features and, for `cost-per-layer`, the N per-layer configs -> [N] ms."""
        return KINDS[self.kind].predict(self.meta, features, configs)


def save_predictor(predictor: Predictor, path: str | os.PathLike) -> None:
    from hat.io import save_checkpoint

    save_checkpoint(predictor.meta, path)


def load_predictor(path: str | os.PathLike) -> Predictor:
    """Load safely (weights_only); anything that is not a predictor file is a one-line HatError."""
    from hat.io import load_checkpoint

    meta = load_checkpoint(path)
    if not isinstance(meta, dict) or meta.get("format") != FILE_FORMAT:
        raise HatError(f"{path}: not a HAT latency predictor file")
    if meta.get("version") != FILE_VERSION or meta.get("kind") not in KINDS:
        raise HatError(f"{path}: unsupported predictor version {meta.get('version')} / kind {meta.get('kind')}")
    return Predictor(meta)
