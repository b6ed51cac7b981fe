"""`hat latency dataset --samples auto`: rounds of recording until the predictor stops improving."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hat.cli.latency import _accuracy
from hat.errors import HatError
from hat.latency.adaptive import StopRule, record_adaptive
from hat.latency.dataset import DriftSettings, sample_sequence, sidecar_path
from hat.latency.measure import Measurement
from hat.latency.table import read_latency_csv
from hat.predictor import cost_terms
from hat.space import hat_features
from hat.tasks import load_task

DEMO = load_task("demo")


class LinearDevice:
    """Latency exactly linear in the cost terms (each term about 1 ms), times 1 + 2 % Gaussian noise."""

    def __init__(self, seed: int = 0):
        self.noise = np.random.default_rng(seed)
        reference = cost_terms(np.array([hat_features(c) for c in sample_sequence(DEMO.latency_space, 9, 200)]))
        self.weights = 1.0 / reference.mean(axis=0)  # [T]

    def measure(self, config) -> Measurement:
        total = float(cost_terms(np.array([hat_features(config)]))[0] @ self.weights) * (1 + 0.02 * self.noise.normal())
        return Measurement(0.3 * total, 0.0, 0.7 * total, 0.0, runs=3)


def _record(out, rule: StopRule):
    return record_adaptive(
        out,
        rule=rule,
        accuracy=_accuracy(DEMO, seed=1),
        task=DEMO,
        seed=1,
        measure=LinearDevice().measure,
        settings=DriftSettings(runs=1, warmup=0, runs_per_reference=1),  # a row: one run between two reference runs
        clock=lambda: 1.7e9,
        progress=False,
    )


def test_stop_rule_stops_early_on_a_linear_device_within_floor_and_ceiling(tmp_path):
    out = tmp_path / "cpu.csv"
    rule = StopRule(floor=50, round_rows=25, ceiling=500)
    adaptive = _record(out, rule)
    curve = adaptive["curve"]
    assert adaptive["stopped"].startswith("plateau") and rule.floor <= adaptive["rows"] < rule.ceiling
    assert adaptive["rows"] <= 150  # a 2 %-noise linear device is learnt from ~50 rows: two flat rounds later it stops
    assert [point["rows"] for point in curve] == list(range(50, adaptive["rows"] + 1, 25))
    assert all(point["within_10_pct"] == 100.0 and point["mape_pct"] < 3.0 for point in curve)
    rows = read_latency_csv(out, space=DEMO.latency_space)
    assert [r.config for r in rows] == sample_sequence(DEMO.latency_space, 1, adaptive["rows"])
    sidecar = json.loads(sidecar_path(out).read_text())
    assert sidecar["csv"] == "cpu.csv" and sidecar["adaptive"] == adaptive and sidecar["samples"] == adaptive["rows"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cpu.csv", "cpu.env.json"]  # no staging files left


def test_stop_rule_reasons():
    rule = StopRule(floor=100, round_rows=50, ceiling=300, margin_pct=1.0, mape_margin=0.05, patience=2)
    improving = [{"rows": 100, "within_10_pct": 80.0, "mape_pct": 6.0}, {"rows": 150, "within_10_pct": 82.0,
                 "mape_pct": 5.5}, {"rows": 200, "within_10_pct": 84.0, "mape_pct": 5.0}]  # fmt: skip
    assert rule.stop_reason(improving) is None and rule.stop_reason(improving[:2]) is None
    flat = [dict(point, within_10_pct=90.0, mape_pct=4.0) for point in improving]
    assert rule.stop_reason(flat).startswith("plateau: over the last 2 rounds (100 -> 200 rows)")
    mape_still_falling = [dict(point, within_10_pct=90.0) for point in improving]  # 6.0 -> 5.0: a 17 % drop
    assert rule.stop_reason(mape_still_falling) is None
    assert rule.stop_reason([*improving, {"rows": 300, "within_10_pct": 99.0, "mape_pct": 1.0}]) == "ceiling: 300 rows"
    assert [rule.next_rows(n) for n in (0, 100, 250, 300)] == [100, 150, 300, 300]
    with pytest.raises(HatError, match="floor 10 must be >= 25"):
        StopRule(floor=10).check()


def test_predictor_page_draws_the_recordings_learning_curve(tmp_path):
    from hat.cli import main as hat_main
    from hat.predictor import load_predictor

    out = tmp_path / "cpu.csv"
    _record(out, StopRule(floor=50, round_rows=25, ceiling=100))
    predictor_file = tmp_path / "p.pt"
    assert (
        hat_main(["predictor", "train", str(out), "--task", "demo", "--hardware", "cpu", "--out", str(predictor_file)])
        == 0
    )
    png = predictor_file.with_suffix(".png").read_bytes()
    assert int.from_bytes(png[16:20], "big") == 2 * 5 * 120  # two panels: held-out rows, learning curve
    predictor = load_predictor(predictor_file)
    assert len(predictor.interval["scores"]) == predictor.meta["training_data"]["train_rows"]
    assert set(predictor.metrics["upper_bound_coverage_pct"]) == {"0.8", "0.9", "0.95"}
