"""Uniformly scaled baselines: what the search is compared with (the paper's Transformer curves).

A baseline is `DesignSpace.uniform(scale_pct)` of the task's search space. The workflow writes its
YAML once per task, trains it with the searched SubTransformers' recipe (same init, same updates)
and, per hardware, scores and profiles it with the searched runs' rules (rules/baseline.smk). What
the search's sidecar says of a searched config, `baseline_sidecar` says of a baseline: the latency
the hardware's predictor gives it (there is no budget), so `hat report profile` reads both alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hat.errors import HatError
from hat.io import sha256_file
from hat.space import SubConfig
from hat.tasks import Task


def baseline_config(task: Task, scale_pct: int) -> SubConfig:
    """The baseline of `task`'s search space at `scale_pct` (0 smallest .. 100 largest)."""
    config = task.space.uniform(scale_pct)
    task.space.validate(config, source=f"baseline scale {scale_pct}")
    return config


def baseline_sidecar(task: Task, scale_pct: int, predictor_path: Path, hardware: str) -> dict[str, Any]:
    """The baseline's latency predicted for `hardware`, with its #params and FLOPs, in the search
    sidecar's keys (budget and fitness None: a baseline has neither)."""
    from hat.predictor import load_predictor
    from hat.profile import task_counts

    predictor = load_predictor(predictor_path)
    expected = {"task": task.name, "space": task.space.name, "hardware": hardware}
    found = {"task": predictor.task, "space": predictor.space_name, "hardware": predictor.hardware}
    for key, value in expected.items():
        if found[key] != value:
            raise HatError(f"{predictor_path}: predictor is for {key} '{found[key]}', the baseline is for '{value}'")
    config = baseline_config(task, scale_pct)
    return {
        "kind": "baseline",
        "baseline_scale_pct": scale_pct,
        "task": task.name,
        "space": task.space.name,
        "hardware": hardware,
        "latency_budget_ms": None,
        "latency_budget_pct": None,
        "predicted_latency_ms": float(predictor.predict_ms([config])[0]),
        "fitness": None,
        **task_counts(config, task),
        "predictor": {"path": str(predictor_path), "sha256": sha256_file(predictor_path)},
    }
