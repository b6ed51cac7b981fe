"""`hat search` on the demo task with the real fitness (the inherited loss).

The supernet is a demo-space SuperTransformer with seeded random weights saved in HAT's checkpoint
format (training it would cost half a minute; the search's contract does not depend on how good
the weights are). The predictor is a real cost-term predictor file fitted to synthetic latencies.
Evolution vs random search on a trained demo supernet is measured by bench/bench_search.py.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_search_cli import make_predictor

from hat.cli import main
from hat.search import predicted_range
from hat.space import read_subconfig
from hat.tasks import load_task

FLAGS = ["--population", "8", "--iterations", "3", "--seed", "5", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def search_inputs(tmp_path_factory):
    """Binarized cipher corpus, random-weight supernet checkpoint, predictor, mid-range budget."""
    import torch
    from fairseq.data import Dictionary
    from fixtures_train import build_binarized_corpus

    from hat.export import save_model
    from hat.supernet import SuperTransformer

    root = tmp_path_factory.mktemp("demo_search")
    task = load_task("demo")
    data = build_binarized_corpus(root)
    vocab = len(Dictionary.load(str(data / "dict.src.txt")))
    torch.manual_seed(0)
    supernet = root / "supernet.pt"
    save_model(SuperTransformer(task.space, vocab, vocab, padding_idx=1), supernet, space=task.space, task=task.name)
    predictor = make_predictor(root / "cpu.pt", "demo")
    achievable = predicted_range(task.space, predictor.predict_ms)
    threads = torch.get_num_threads()  # --threads / --measure-threads set them process-wide
    yield {
        "data": data,
        "supernet": supernet,
        "predictor": root / "cpu.pt",
        "budget": (achievable.fastest_ms + achievable.slowest_ms) / 2,
        "vocab": vocab,
    }
    torch.set_num_threads(threads)


def search_argv(search_inputs, out: Path, *extra) -> list[str]:
    return [
        "search",
        "--task",
        "demo",
        "--supernet",
        str(search_inputs["supernet"]),
        "--data",
        str(search_inputs["data"]),
        "--predictor",
        str(search_inputs["predictor"]),
        "--latency-budget",
        str(search_inputs["budget"]),
        "--out",
        str(out),
        *FLAGS,
        *extra,
    ]


@pytest.fixture(scope="module")
def first_run(search_inputs, tmp_path_factory):
    """The reference search, closing the loop with a real measurement on this CPU."""
    out = tmp_path_factory.mktemp("first") / "subtransformer.yml"
    assert main(search_argv(search_inputs, out, "--measure-latency", "cpu", "--measure-threads", "1")) == 0
    return out


def test_result_obeys_budget_validates_and_profiles(search_inputs, first_run, capsys):
    from hat.fairseq_plugin.fitness import InheritedLoss

    task = load_task("demo")
    found = read_subconfig(first_run)
    task.space.validate(found)
    sidecar = json.loads(first_run.with_suffix(".json").read_text())
    assert sidecar["predicted_latency_ms"] <= search_inputs["budget"]
    inherited_loss = InheritedLoss(task, search_inputs["supernet"], search_inputs["data"])
    assert inherited_loss([found])[0] == pytest.approx(sidecar["fitness"], rel=1e-6)
    assert main(["profile", str(first_run), "--task", "demo"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == sidecar["params"]


def test_same_seed_gives_the_same_yaml(search_inputs, first_run, tmp_path):
    out = tmp_path / "subtransformer.yml"
    assert main(search_argv(search_inputs, out)) == 0
    assert out.read_text() == first_run.read_text()


# Runs `hat search` in a child process whose fitness SIGKILLs it during the 2nd generation.
_KILLED_SEARCH = """
import os, signal, sys
from hat.fairseq_plugin.fitness import InheritedLoss
calls = []
original = InheritedLoss.__call__
def dying_losses(self, configs):
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, configs)
InheritedLoss.__call__ = dying_losses
from hat.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_resume_after_sigkill_gives_the_same_yaml(search_inputs, first_run, tmp_path):
    out = tmp_path / "subtransformer.yml"
    argv = search_argv(search_inputs, out)
    child = subprocess.run([sys.executable, "-c", _KILLED_SEARCH, *argv], capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert not out.exists()
    assert json.loads(out.with_suffix(".state.json").read_text())["generations_done"] == 1

    assert main(argv) == 0
    assert json.loads(out.with_suffix(".json").read_text())["resumed_generations"] == 1
    assert out.read_text() == first_run.read_text()
    assert not out.with_suffix(".state.json").exists()


def test_closed_loop_measures_the_result_on_this_cpu(search_inputs, first_run):
    measured = json.loads(first_run.with_suffix(".json").read_text())["measured"]
    assert measured["device"] == "cpu" and measured["latency_ms"] > 0
    assert measured["latency_ms"] == pytest.approx(measured["encoder_ms"] + measured["decoder_ms"])
    assert measured["protocol"]["environment"]["threads"] == 1
    assert measured["protocol"]["vocab_size"] == search_inputs["vocab"]  # the data's dictionary, not a guess
