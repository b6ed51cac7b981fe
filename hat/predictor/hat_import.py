"""HAT's trained latency predictors as this project's `hat-mlp` predictor files (`hat predictor import`).

HAT's file (`latency_dataset/predictors/<task>_<cpu|gpu>_<hw>.pt`) is the state dict of
`latency_predictor.py`'s `Net`: `first_layer` (10 → hidden), `layers.0 .. layers.{n-1}`
(hidden → hidden), `predict` (hidden → 1), ReLU after every layer but the last. HAT predicts
`Net(features / feature_norm) * lat_norm` (`predict_lat`), with feature-norm and lat-norm from
`configs/<task>/latency_predictor/<hw>.yml`. Our `hat-mlp` kind computes exactly that from
parameters named `0.*, 1.*, ...` and normalization `feature_norm` / `lat_norm_ms`, so the
imported file predicts what HAT's does.

Held-out metrics: HAT split its CSV 80/10/10 after an unseeded shuffle, so which rows it trained
on is unknown. An imported predictor is scored on the same seeded held-out 20 % of the CSV that
`hat predictor train` scores (`heldout_split`), which may include rows HAT trained on; the file
says so under `training_data.note`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hat.errors import HatError
from hat.predictor import Predictor, heldout_split, latency_metrics
from hat.predictor.file import file_header
from hat.space import FEATURE_NAMES, read_hat_yaml

YAML_KEYS = ("feature-norm", "lat-norm", "feature-dim", "hidden-dim", "hidden-layer-num")


def read_predictor_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """HAT's latency_predictor YAML, checked: 10 positive feature norms, a positive lat-norm."""
    values = read_hat_yaml(path)
    missing = [key for key in YAML_KEYS if key not in values]
    if missing:
        raise HatError(f"{path}: missing key '{missing[0]}'")
    norms = values["feature-norm"]
    if values["feature-dim"] != len(FEATURE_NAMES) or not isinstance(norms, list) or len(norms) != len(FEATURE_NAMES):
        raise HatError(f"{path}: feature-dim/feature-norm must describe HAT's {len(FEATURE_NAMES)} features")
    if not all(isinstance(n, (int, float)) and n > 0 for n in norms + [values["lat-norm"]]):
        raise HatError(f"{path}: feature-norm and lat-norm must be positive numbers")
    return values


def mlp_parameters(state: dict[str, Any], hidden_dim: int, hidden_layer_num: int, source: str) -> dict[str, Any]:
    """HAT's Net state dict -> our `hat-mlp` parameters ('0.weight', '0.bias', ...), shapes checked."""
    names = ["first_layer"] + [f"layers.{i}" for i in range(hidden_layer_num)] + ["predict"]
    shapes = [(hidden_dim, len(FEATURE_NAMES))] + [(hidden_dim, hidden_dim)] * hidden_layer_num + [(1, hidden_dim)]
    expected = {f"{name}.{part}" for name in names for part in ("weight", "bias")}
    if set(state) != expected:
        odd = sorted(set(state) ^ expected)[0]
        raise HatError(f"{source}: '{odd}' does not fit HAT's predictor Net with {hidden_layer_num} hidden layers")
    parameters = {}
    for index, (name, shape) in enumerate(zip(names, shapes)):
        weight, bias = state[f"{name}.weight"], state[f"{name}.bias"]
        if tuple(weight.shape) != shape or tuple(bias.shape) != shape[:1]:
            raise HatError(f"{source}: '{name}.weight' has shape {list(weight.shape)}, expected {list(shape)}")
        parameters[f"{index}.weight"], parameters[f"{index}.bias"] = weight.float(), bias.float()
    return parameters


def import_hat_predictor(
    predictor_path: str | os.PathLike,
    yaml_path: str | os.PathLike,
    *,
    task: Any,
    hardware: str,
    features: np.ndarray,
    target_ms: np.ndarray,
    data_info: dict[str, Any],
    seed: int,
) -> tuple[Predictor, np.ndarray]:
    """Our predictor for HAT's file, scored on the held-out rows of `features`/`target_ms`
    (HAT's CSV for the same task and hardware); returns it and the held-out indices."""
    from hat.io import load_checkpoint, sha256_file

    recipe = read_predictor_yaml(yaml_path)
    state = load_checkpoint(predictor_path)
    parameters = mlp_parameters(state, recipe["hidden-dim"], recipe["hidden-layer-num"], str(predictor_path))
    _, heldout = heldout_split(len(target_ms), seed)
    meta = {
        **file_header(task, hardware),
        "kind": "hat-mlp",
        "features": {"inputs": list(FEATURE_NAMES)},
        "normalization": {
            "feature_norm": [float(n) for n in recipe["feature-norm"]],
            "lat_norm_ms": float(recipe["lat-norm"]),
        },
        "parameters": parameters,
        "fit": {
            "imported_from": {
                "file": Path(predictor_path).name,
                "sha256": sha256_file(predictor_path),
                "yaml": Path(yaml_path).name,
            },
            "loss": "mse",
            "hidden": recipe["hidden-dim"],
            "hidden_layers": recipe["hidden-layer-num"] + 1,
            **{key: recipe[key] for key in ("lr", "train-steps", "bsz") if key in recipe},
        },
        "training_data": {
            **data_info,
            "split_seed": seed,
            "heldout_rows": len(heldout),
            "note": "trained by HAT on an unseeded 80 % of this CSV; the held-out rows may include its training rows",
        },
    }
    predictor = Predictor(meta)
    meta["metrics"] = latency_metrics(target_ms[heldout], predictor.predict_features(features[heldout]))
    return predictor, heldout
