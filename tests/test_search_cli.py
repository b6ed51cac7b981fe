"""`hat search` end to end on the demo task, with a real predictor file and a synthetic fitness.

The fitness is swapped for an analytic landscape (tests/test_search.py) so these tests check the
command's contract — checks before the search, outputs, closed-loop warning — in seconds;
tests/test_search_demo.py runs the real inherited loss.
"""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest
from test_search import synthetic_latency, synthetic_loss

from hat.cli import main
from hat.predictor import build_predictor, save_predictor
from hat.search import predicted_range
from hat.space import hat_features, read_subconfig
from hat.tasks import load_task

SMALL_FLAGS = ["--population", "10", "--iterations", "3", "--seed", "7", "--no-progress"]


def make_predictor(path, task_name: str, hardware: str = "cpu", vocab_size: int | None = None):
    """A cost-term predictor fitted to the synthetic latency of 200 random demo SubTransformers."""
    task = load_task(task_name)
    rng = random.Random(0)
    configs = [task.latency_space.sample(rng) for _ in range(200)]
    features = np.array([hat_features(c) for c in configs])
    predictor, _ = build_predictor(
        features,
        np.array(synthetic_latency(configs)),
        method="cost",
        seed=0,
        task=task,
        hardware=hardware,
        data_info={"file": "synthetic", "sha256": "0", "vocab_size": vocab_size},
    )
    save_predictor(predictor, path)
    return predictor


@pytest.fixture(scope="module")
def demo_predictor(tmp_path_factory):
    path = tmp_path_factory.mktemp("predictor") / "cpu.pt"
    return path, make_predictor(path, "demo")


@pytest.fixture
def synthetic_fitness(monkeypatch):
    monkeypatch.setattr("hat.fairseq_plugin.fitness.InheritedLoss", lambda *inputs, **options: synthetic_loss)


@pytest.fixture
def inputs(tmp_path, demo_predictor):
    supernet = tmp_path / "supernet.pt"
    supernet.write_bytes(b"weights")
    path, predictor = demo_predictor
    achievable = predicted_range(load_task("demo").space, predictor.predict_ms)
    return {
        "predictor": path,
        "supernet": supernet,
        "budget": (achievable.fastest_ms + achievable.slowest_ms) / 2,
        "achievable": achievable,
        "out": tmp_path / "run" / "subtransformer.yml",
    }


def search_args(inputs, *extra, budget=None, data="unused"):
    return [
        "search",
        "--task",
        "demo",
        "--supernet",
        str(inputs["supernet"]),
        "--data",
        str(data),
        "--predictor",
        str(inputs["predictor"]),
        "--latency-budget",
        str(budget if budget is not None else inputs["budget"]),
        "--out",
        str(inputs["out"]),
        *SMALL_FLAGS,
        *extra,
    ]


def test_search_writes_yaml_sidecar_log_and_plot(inputs, synthetic_fitness, capsys):
    assert main(search_args(inputs)) == 0
    out = inputs["out"]
    task = load_task("demo")
    found = read_subconfig(out)
    task.space.validate(found)
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["predicted_latency_ms"] <= inputs["budget"] == sidecar["latency_budget_ms"]
    assert sidecar["fitness"] == synthetic_loss([found])[0]
    settings = sidecar["settings"]
    assert (settings["seed"], settings["parents"], settings["mutations"], settings["crossovers"]) == (7, 2, 4, 4)
    assert sidecar["predictor"]["hardware"] == "cpu" and len(sidecar["predictor"]["sha256"]) == 64
    assert sidecar["params"] > 0 and sidecar["flops"] > 0 and sidecar["measured"] is None
    with open(out.parent / "subtransformer.search_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["generation"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["best_fitness"]) == sidecar["fitness"]
    assert (out.parent / "subtransformer.search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "subtransformer.json",
        "subtransformer.search.png",
        "subtransformer.search_log.csv",
        "subtransformer.yml",
    ]  # no state file or temporary left behind
    assert "best: inherited loss" in capsys.readouterr().err
    assert main(["profile", str(out), "--task", "demo"]) == 0
    profile = json.loads(capsys.readouterr().out)
    assert (profile["params"], profile["flops"]) == (sidecar["params"], sidecar["flops"])


def test_search_writes_each_output_where_its_flag_names_it(inputs, synthetic_fitness, tmp_path):
    """The workflow passes every output by name: named files land there, nothing beside the YAML."""
    named = {flag: tmp_path / "elsewhere" / name for flag, name in
             (("--sidecar", "result.json"), ("--log-csv", "generations.csv"), ("--plot", "curves.png"))}  # fmt: skip
    assert main(search_args(inputs, *[str(word) for pair in named.items() for word in pair])) == 0
    assert sorted(p.name for p in inputs["out"].parent.iterdir()) == ["subtransformer.yml"]
    assert json.loads(named["--sidecar"].read_text())["fitness"] == synthetic_loss([read_subconfig(inputs["out"])])[0]
    assert named["--log-csv"].read_text().splitlines()[0].startswith("generation,")
    assert named["--plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_yaml(inputs, synthetic_fitness, tmp_path):
    assert main(search_args(inputs)) == 0
    first = inputs["out"].read_text()
    inputs["out"] = tmp_path / "again" / "subtransformer.yml"
    assert main(search_args(inputs)) == 0
    assert inputs["out"].read_text() == first


def relative_args(inputs, pct: str) -> list[str]:
    argv = search_args(inputs)
    flag = argv.index("--latency-budget")
    return [*argv[:flag], "--latency-budget-pct", pct, *argv[flag + 2 :]]


@pytest.mark.parametrize("pct", [20, 50, 85])
def test_relative_budget_resolves_on_the_predicted_range(inputs, synthetic_fitness, pct, capsys):
    assert main(relative_args(inputs, str(pct))) == 0
    sidecar = json.loads(inputs["out"].with_suffix(".json").read_text())
    fastest, slowest = inputs["achievable"].fastest_ms, inputs["achievable"].slowest_ms
    assert sidecar["latency_budget_pct"] == pct
    assert sidecar["latency_budget_ms"] == pytest.approx(fastest + pct / 100 * (slowest - fastest))
    assert sidecar["predicted_latency_ms"] <= sidecar["latency_budget_ms"]
    assert sidecar["achievable_predicted_ms"] == [fastest, slowest]
    assert f"budget {pct:g} % of {fastest:.4g}-{slowest:.4g} ms = " in capsys.readouterr().err


def test_absolute_budget_is_recorded_without_a_percentage(inputs, synthetic_fitness):
    assert main(search_args(inputs)) == 0
    assert json.loads(inputs["out"].with_suffix(".json").read_text())["latency_budget_pct"] is None


@pytest.mark.parametrize("pct", ["0", "100", "-5", "nan"])
def test_relative_budget_outside_the_range_is_one_line_error(inputs, pct, capsys):
    assert main(relative_args(inputs, pct)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hat: error: --latency-budget-pct must be in (0, 100)") and "\n" not in err
    assert not inputs["out"].parent.exists()


def test_predictor_of_another_vocabulary_is_refused(inputs, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "dict.tgt.txt").write_text("".join(f"t{i} 1\n" for i in range(508)))  # 512 with the specials
    make_predictor(tmp_path / "p.pt", "demo", vocab_size=2000)
    inputs["predictor"] = tmp_path / "p.pt"
    assert main(search_args(inputs, data=data)) == 2
    assert (
        "its latencies were measured with vocabulary size 2000, but the dictionary in "
        f"{data} has 512 entries" in capsys.readouterr().err
    )
    assert not inputs["out"].parent.exists()
    make_predictor(tmp_path / "p.pt", "demo", vocab_size=512)
    assert main(search_args(inputs, "--iterations", "1", data=data)) == 2  # passes the check, then needs a supernet
    assert "vocabulary size" not in capsys.readouterr().err


@pytest.mark.parametrize("where", ["below", "above"])
def test_infeasible_budget_fails_in_one_line_and_writes_nothing(inputs, where, capsys):
    achievable = inputs["achievable"]
    budget = achievable.fastest_ms / 2 if where == "below" else achievable.slowest_ms * 2
    assert main(search_args(inputs, budget=budget)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hat: error: latency budget") and "\n" not in err
    assert f"achievable: {achievable}" in err
    assert not inputs["out"].parent.exists()


def test_predictor_of_another_task_is_refused(inputs, tmp_path, capsys):
    make_predictor(tmp_path / "wmt.pt", "wmt14ende")
    inputs["predictor"] = tmp_path / "wmt.pt"
    assert main(search_args(inputs)) == 2
    assert "predictor is for task 'wmt14ende', the search is for 'demo'" in capsys.readouterr().err
    assert not inputs["out"].parent.exists()


def test_predictor_of_other_hardware_is_refused(inputs, capsys):
    assert main(search_args(inputs, "--hardware", "xeon")) == 2
    assert "predictor is for hardware 'cpu', the search is for 'xeon'" in capsys.readouterr().err
    assert not inputs["out"].parent.exists()


def test_measured_latency_over_budget_is_a_visible_warning(inputs, synthetic_fitness, monkeypatch, capsys):
    over = inputs["budget"] * 1.2
    monkeypatch.setattr("hat.search.run.measure_result", lambda config, request: {"device": "cpu", "latency_ms": over})
    assert main(search_args(inputs, "--measure-latency", "cpu")) == 0
    sidecar = json.loads(inputs["out"].with_suffix(".json").read_text())
    assert sidecar["measured"]["latency_ms"] == over
    assert sidecar["measured"]["over_budget_pct"] == pytest.approx(20.0)
    assert "20 % over the" in sidecar["warning"]
    assert "hat: warning: measured" in capsys.readouterr().err


def test_measured_latency_within_ten_percent_is_not_a_warning(inputs, synthetic_fitness, monkeypatch):
    within = inputs["budget"] * 1.09
    within_budget = {"device": "cpu", "latency_ms": within}
    monkeypatch.setattr("hat.search.run.measure_result", lambda config, request: within_budget)
    assert main(search_args(inputs, "--measure-latency", "cpu")) == 0
    assert json.loads(inputs["out"].with_suffix(".json").read_text())["warning"] is None


def test_search_with_confidence_keeps_the_upper_bound_under_budget(tmp_path, inputs, synthetic_fitness):
    task = load_task("demo")
    rng, noise = random.Random(1), np.random.default_rng(1)
    configs = [task.latency_space.sample(rng) for _ in range(200)]
    noisy_ms = np.array(synthetic_latency(configs)) * (1 + 0.05 * noise.standard_normal(200))  # a noisy device
    predictor, _ = build_predictor(
        np.array([hat_features(c) for c in configs]), noisy_ms, method="cost", seed=0, task=task, hardware="cpu",
        data_info={"file": "noisy", "sha256": "0"},
    )  # fmt: skip
    path = tmp_path / "noisy.pt"
    save_predictor(predictor, path)
    factor = predictor.upper_factor(0.9)
    assert 1.03 < factor < 1.15  # 5 % noise: the 90 % bound sits about 1.28 σ above the prediction
    budgets = np.linspace(inputs["achievable"].fastest_ms * factor * 1.05, inputs["achievable"].slowest_ms, 3)
    for budget in budgets[::-1]:  # the tightest last
        args = search_args({**inputs, "predictor": path}, "--confidence", "0.9", budget=budget)
        assert main(args) == 0
        sidecar = json.loads(inputs["out"].with_suffix(".json").read_text())
        found = read_subconfig(inputs["out"])
        assert predictor.upper_ms([found], 0.9)[0] <= budget
        assert sidecar["confidence"] == 0.9
        assert sidecar["upper_bound_ms"] == pytest.approx(sidecar["predicted_latency_ms"] * factor)
        assert sidecar["upper_bound_ms"] <= budget and sidecar["budget_probability"] >= 0.9 - 1 / 161
    assert main(search_args({**inputs, "predictor": path}, budget=budgets[0])) == 0  # without: the prediction alone
    plain = json.loads(inputs["out"].with_suffix(".json").read_text())
    assert plain["upper_bound_ms"] is None and plain["predicted_latency_ms"] > sidecar["predicted_latency_ms"]
