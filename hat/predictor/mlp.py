"""HAT's latency-predictor recipe (spec §4), kept for comparison: MLP 10-400-400-400-400-1 on
features divided by HAT's feature-norm, target divided by lat-norm, MSE, Adam lr 1e-5, 5000 steps
of 128."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from hat.space import FEATURE_NAMES

HAT_FEATURE_NORM = (640, 6, 2048, 6, 640, 6, 2048, 6, 6, 2)
HAT_LAT_NORM_MS = {"titanxp": 200.0, "xeon": 300.0, "raspberrypi": 5000.0}
HAT_MLP_RECIPE = {"hidden": 400, "hidden_layers": 4, "lr": 1e-5, "steps": 5000, "batch": 128}


def _mlp_layers(hidden: int, hidden_layers: int) -> list[tuple[int, int]]:
    """(in, out) of each Linear: 10 → hidden, (hidden_layers − 1) × hidden → hidden, hidden → 1."""
    return [(len(FEATURE_NAMES), hidden)] + [(hidden, hidden)] * (hidden_layers - 1) + [(hidden, 1)]


def mlp_forward(parameters: dict[str, Any], inputs):
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
