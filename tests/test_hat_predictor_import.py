"""`hat predictor import` (hat.predictor.hat_import): HAT's 8 trained predictors as hat-mlp files
that predict exactly what HAT's own code predicts on HAT's CSV rows.

Test data: ../shared/hat-latency/ (HAT's CSVs, predictors/*.pt and their YAMLs); skipped when absent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from hat.cli import main
from hat.predictor import latency_metrics, load_predictor

REPO = Path(__file__).resolve().parents[1]
HAT_LATENCY = REPO.parent / "shared" / "hat-latency"
NAMES = sorted(p.stem for p in (HAT_LATENCY / "predictors").glob("*.pt")) if HAT_LATENCY.is_dir() else []
pytestmark = pytest.mark.skipif(len(NAMES) != 8, reason="HAT's predictors (../shared/hat-latency/predictors) absent")


class HatNet(torch.nn.Module):
    """HAT's latency_predictor.py Net, re-implemented as written there."""

    def __init__(self, feature_dim: int, hidden_dim: int, hidden_layer_num: int):
        super().__init__()
        self.first_layer = torch.nn.Linear(feature_dim, hidden_dim)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(hidden_dim, hidden_dim) for _ in range(hidden_layer_num))
        self.predict = torch.nn.Linear(hidden_dim, 1)

    def forward(self, x):
        x = torch.relu(self.first_layer(x))
        for layer in self.layers:
            x = torch.relu(layer(x))
        return self.predict(x)


def hat_predictions(name: str) -> np.ndarray:
    """HAT's predict_lat on every row of its CSV: features parsed as read_dataset does (first
    feature-dim columns), divided by feature-norm, Net output times lat-norm."""
    recipe = yaml.safe_load((HAT_LATENCY / "predictors" / f"{name}.yml").read_text())
    net = HatNet(recipe["feature-dim"], recipe["hidden-dim"], recipe["hidden-layer-num"])
    net.load_state_dict(torch.load(HAT_LATENCY / "predictors" / f"{name}.pt", weights_only=True))
    lines = (HAT_LATENCY / f"{name}_all.csv").read_text().splitlines()[1:]
    features = np.array([[float(v) for v in line.split(",")[: recipe["feature-dim"]]] for line in lines])
    with torch.no_grad():
        normalized = torch.Tensor(features / np.array(recipe["feature-norm"]))
        return net(normalized)[:, 0].double().numpy() * recipe["lat-norm"]


def import_args(name: str, out: Path) -> list[str]:
    task, hardware = name.split("_")[0], name.split("_")[-1]
    base = HAT_LATENCY / "predictors" / name
    csv = HAT_LATENCY / f"{name}_all.csv"
    return ["predictor", "import", f"{base}.pt", "--yaml", f"{base}.yml", "--csv", str(csv), "--task", task,
            "--hardware", hardware, "--out", str(out)]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_imported_predictor_reproduces_hats_prediction_on_its_csv(name, tmp_path):
    out = tmp_path / f"{name}.pt"
    assert main(import_args(name, out)) == 0
    predictor = load_predictor(out)
    assert predictor.kind == "hat-mlp" and predictor.task == name.split("_")[0]
    assert predictor.hardware == name.split("_")[-1]
    predict_csv = ["predictor", "predict", str(out), str(HAT_LATENCY / f"{name}_all.csv")]
    assert main([*predict_csv, "--out", str(tmp_path / "predicted.csv")]) == 0
    import pandas as pd

    ours = pd.read_csv(tmp_path / "predicted.csv")["predicted_ms"].to_numpy()
    np.testing.assert_allclose(ours, hat_predictions(name), rtol=1e-5)

    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    heldout = pd.read_csv(out.with_suffix(".predictions.csv"))
    assert metrics["rows"] == len(heldout) == 400  # the seeded 20 % of 2000, as `hat predictor train`
    assert metrics == {"predictor": out.name, "kind": "hat-mlp", **predictor.metrics}
    recomputed = latency_metrics(heldout["measured_ms"].to_numpy(), heldout["predicted_ms"].to_numpy())
    assert metrics["mape_pct"] == pytest.approx(recomputed["mape_pct"], rel=1e-4)
    assert metrics["mape_pct"] < 15  # HAT's predictors fit their own CSVs (paper Fig. 7)


def test_predictor_of_another_shape_is_refused(tmp_path, capsys):
    name = NAMES[0]
    recipe = (HAT_LATENCY / "predictors" / f"{name}.yml").read_text()
    (tmp_path / "two.yml").write_text(recipe.replace("hidden-layer-num: 3", "hidden-layer-num: 2"))
    args = import_args(name, tmp_path / "p.pt")
    args[args.index("--yaml") + 1] = str(tmp_path / "two.yml")
    assert main(args) == 2
    assert "'layers.2.bias' does not fit HAT's predictor Net with 2 hidden layers" in capsys.readouterr().err
    assert not (tmp_path / "p.pt").exists()
