"""Training on several workers (fairseq's DDP with gloo on CPU) and the search on several workers.

The 2-rank runs are real torch.distributed DDP runs: fairseq's `call_main` in two processes that
rendezvous over tcp://127.0.0.1 (hat.fairseq_plugin.distributed), HAT's `no_c10d` backend.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from fixtures_train import FAST_TRAINING, corpus_dir
from test_search_demo import search_argv, search_inputs  # noqa: F401  (`search_inputs` is a fixture)

from hat.cli import main
from hat.errors import HatError
from hat.io import load_checkpoint
from hat.space import SubConfig
from hat.tasks import load_task
from hat.train import training_settings
from hat.world import World, scaled_settings

REPO = Path(__file__).resolve().parents[1]
HAT_MAIN = "import sys; from hat.cli import main; sys.exit(main(sys.argv[1:]))"
# No dropout: a rank's micro-batch and the same micro-batch as the 2nd of one rank's update-freq
# draw different dropout masks (fairseq seeds torch per update), everything else is the same math.
# adam-eps 1: with HAT's 1e-8 Adam's step is ~lr for any gradient >> eps, so summation-order noise
# (~1e-9) in a gradient of ~0 would become an lr-sized step; with eps 1 a step follows its gradient.
EXACT = {**FAST_TRAINING, "dropout": "0", "attention-dropout": "0", "adam-eps": "1", "disable-validation": "true"}


def left_out_layers(space, configs) -> set[str]:
    """Key prefixes of the layers some update's SubTransformer did not use."""
    return {
        f"{side}.layers.{layer}."
        for config in configs
        for side, used, total in (
            ("encoder", config.encoder_layer_num, space.encoder_layers),
            ("decoder", config.decoder_layer_num, space.decoder_layers),
        )
        for layer in range(used, total)
    }


def sample_log(path: Path) -> list[tuple[int, int, SubConfig]]:
    entries = map(json.loads, path.read_text().splitlines())
    return [(entry["update"], entry["rank"], SubConfig.from_hat_dict(entry["config"])) for entry in entries]


def train_command(data: Path, save_dir: Path, gpus: int, update_freq: int, log: Path, *settings: str) -> list[str]:
    command = [sys.executable, "-c", HAT_MAIN, "train", "supernet", "--task", "demo", "--data", str(data),
               "--save-dir", str(save_dir), "--device", "cpu", "--threads", "1", "--gpus", str(gpus)]  # fmt: skip
    overrides = {**EXACT, "update-freq": str(update_freq), "hat-sample-log": str(log)}
    return command + [f"--override={key}={value}" for key, value in overrides.items()] + list(settings)


def run(command: list[str], log: Path) -> None:
    with open(log, "a") as output:
        subprocess.run(command, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True, stdout=output, stderr=output)


# --------------------------------------------------------------------------------------------
# update-freq from the world size


@pytest.mark.parametrize(
    ("task", "gpus", "nodes", "update_freq"),
    [("wmt14ende", 8, 1, 16), ("wmt14ende", 4, 2, 16), ("wmt14ende", 8, 2, 8), ("wmt14ende", 1, 1, 128),
     ("wmt19ende", 2, 1, 64), ("iwslt14deen", 1, 1, 1), ("demo", 1, 1, 1)],
)  # fmt: skip
def test_update_freq_keeps_hats_128_micro_batches_per_update(task, gpus, nodes, update_freq):
    settings = scaled_settings(training_settings(load_task(task), {}, False), {}, World(gpus, nodes))
    assert settings["update-freq"] == update_freq
    assert settings["distributed-world-size"] == gpus * nodes


def test_update_freq_override_wins_and_indivisible_worlds_are_refused():
    wmt = load_task("wmt14ende")
    overrides = {"update-freq": "3"}
    assert scaled_settings(training_settings(wmt, overrides, False), overrides, World(2))["update-freq"] == "3"
    with pytest.raises(HatError, match="3 workers cannot share the 128 micro-batches"):
        scaled_settings(training_settings(wmt, {}, False), {}, World(3))
    with pytest.raises(HatError, match="--gpus"):
        scaled_settings(training_settings(wmt, {}, False), {"distributed-world-size": "2"}, World(2))
    with pytest.raises(HatError, match="--nodes 2 with --device cpu"):
        World(2, 2).check(cpu=True)


# --------------------------------------------------------------------------------------------
# 2 ranks x update-freq 1 == 1 rank x update-freq 2


@pytest.mark.slow
def test_two_ranks_sample_alike_and_match_one_rank_with_update_freq_2(tmp_path_factory, tmp_path):
    from hat.fairseq_plugin.task import config_for_update

    space = load_task("demo").space
    data = corpus_dir(tmp_path_factory)
    updates = 4
    for name, gpus, update_freq in (("ddp", 2, 1), ("single", 1, 2)):
        command = train_command(data, tmp_path / name, gpus, update_freq, tmp_path / f"{name}.jsonl")
        run(command + [f"--override=max-update={updates}"], tmp_path / f"{name}.log")

    expected = {update: config_for_update(space, update) for update in range(updates)}
    ddp_log, single_log = (sample_log(tmp_path / f"{name}.jsonl") for name in ("ddp", "single"))
    # one line per rank and update (a rank without a batch left in the epoch trains a dummy one)
    assert sorted((update, rank) for update, rank, _ in ddp_log) == [(u, r) for u in range(updates) for r in (0, 1)]
    # one line per micro-batch: 2 per update, 1 for the last update of an epoch with an odd batch count
    assert {update for update, _, _ in single_log} == set(range(updates)) and len(single_log) >= updates + 2
    assert all(config == expected[update] for update, _, config in ddp_log + single_log)

    ddp, single = (load_checkpoint(tmp_path / name / "checkpoint_last.pt") for name in ("ddp", "single"))
    assert ddp["optimizer_history"][-1]["num_updates"] == single["optimizer_history"][-1]["num_updates"] == updates
    assert ddp["model"].keys() == single["model"].keys()
    # A layer an update leaves out gets a zero gradient from no_c10d DDP and none on one worker, so
    # Adam counts a step (and applies momentum) for it only under DDP (docs/distributed.md); every
    # parameter used at every update has had the same gradients and the same optimizer state.
    left_out = left_out_layers(space, expected.values())
    compared = [key for key in ddp["model"] if not key.startswith(tuple(left_out))]
    assert len(compared) > len(ddp["model"]) / 3
    for key in compared:
        torch.testing.assert_close(ddp["model"][key], single["model"][key], rtol=1e-5, atol=1e-6, msg=key)
    first = load_checkpoint(tmp_path / "ddp" / "checkpoint1.pt")["model"]  # the weights did move
    assert any(not torch.equal(first[key], weight) for key, weight in ddp["model"].items())


@pytest.mark.slow
def test_killed_two_rank_run_resumes_on_two_ranks_or_one(tmp_path_factory, tmp_path):
    """Preemption: the whole job (both ranks) is killed; a rerun continues from checkpoint_last.pt
    with the same world size, and a second kill + rerun continues on one worker (update-freq 2)."""
    data = corpus_dir(tmp_path_factory)
    log, last = tmp_path / "samples.jsonl", tmp_path / "run" / "checkpoint_last.pt"
    settings = ["--override=max-update=12", "--override=save-interval-updates=2"]
    command = train_command(data, tmp_path / "run", 2, 1, log, *settings)

    def kill_after(updates_logged: int) -> int:
        with open(tmp_path / "train.log", "a") as output:
            child = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=output,
                                     stderr=output, start_new_session=True)  # fmt: skip
        deadline = time.time() + 300
        while child.poll() is None and not (log.exists() and len(log.read_text().splitlines()) >= updates_logged):
            assert time.time() < deadline
            time.sleep(0.02)
        assert child.poll() is None, (tmp_path / "train.log").read_text()[-3000:]
        os.killpg(child.pid, signal.SIGKILL)  # the job: launcher and both ranks
        child.wait()
        return load_checkpoint(last)["optimizer_history"][-1]["num_updates"]

    saved = kill_after(2 * 4)  # 2 ranks x 4 updates
    assert 2 <= saved < 12
    run(command, tmp_path / "train.log")  # same world size
    assert load_checkpoint(last)["optimizer_history"][-1]["num_updates"] == 12
    logged = [(update, rank) for update, rank, _ in sample_log(log)]
    rerun = logged[-2 * (12 - saved) :]  # each rank trained each remaining update once
    assert sorted(rerun) == [(u, r) for u in range(saved, 12) for r in (0, 1)]
    assert min(update for update, _ in logged[: -len(rerun)]) == 0  # the killed run's own lines

    log.unlink()
    run(train_command(data, tmp_path / "run", 1, 2, log, "--override=max-update=14"), tmp_path / "train.log")
    assert [(update, rank) for update, rank, _ in sample_log(log)] == [(u, 0) for u in (12, 12, 13, 13)]
    assert load_checkpoint(last)["optimizer_history"][-1]["num_updates"] == 14


# --------------------------------------------------------------------------------------------
# The search on 2 workers


def test_split_keeps_order_and_balances():
    from hat.search.workers import split

    assert split(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert split([1], 2) == [[1], []]


@pytest.mark.slow
def test_two_worker_search_returns_the_serial_result(search_inputs, tmp_path):  # noqa: F811
    serial, parallel = tmp_path / "serial" / "sub.yml", tmp_path / "parallel" / "sub.yml"
    assert main(search_argv(search_inputs, serial)) == 0
    assert main(search_argv(search_inputs, parallel, "--workers", "2")) == 0
    assert parallel.read_text() == serial.read_text()
    sidecars = [json.loads(path.with_suffix(".json").read_text()) for path in (serial, parallel)]
    assert sidecars[0]["fitness"] == sidecars[1]["fitness"] and sidecars[1]["workers"] == 2
    logs = [path.with_suffix(".search_log.csv").read_text().splitlines() for path in (serial, parallel)]
    assert [row.rsplit(",", 1)[0] for row in logs[0]] == [row.rsplit(",", 1)[0] for row in logs[1]]  # but seconds


# `hat search --workers 2` in a child process that SIGKILLs itself in the 2nd generation.
_KILLED_SEARCH = """
import os, signal, sys
import hat.search.workers
calls = []
original = hat.search.workers.WorkerPool.__call__
def dying_call(self, configs):
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, configs)
hat.search.workers.WorkerPool.__call__ = dying_call
from hat.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_two_worker_search_resumes_after_sigkill(search_inputs, tmp_path):  # noqa: F811
    serial, out = tmp_path / "serial.yml", tmp_path / "sub.yml"
    assert main(search_argv(search_inputs, serial)) == 0
    argv = search_argv(search_inputs, out, "--workers", "2")
    child = subprocess.run([sys.executable, "-c", _KILLED_SEARCH, *argv], capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert json.loads(out.with_suffix(".state.json").read_text())["generations_done"] == 1
    assert main(argv) == 0
    assert json.loads(out.with_suffix(".json").read_text())["resumed_generations"] == 1
    assert out.read_text() == serial.read_text()


@pytest.mark.slow
def test_a_failing_worker_is_a_one_line_hat_error(search_inputs, tmp_path, capsys):  # noqa: F811
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    argv = search_argv(search_inputs, tmp_path / "sub.yml", "--workers", "2")
    argv[argv.index("--supernet") + 1] = str(broken)
    assert main(argv) == 2
    assert "search worker 0:" in capsys.readouterr().err
