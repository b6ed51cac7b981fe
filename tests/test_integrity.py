"""Issue #19 points 1, 2, 3, 6 and 8: content digests, dictionary/model agreement, sidecar counts
across resumes, file modes, and what a failed training leaves behind."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from fixtures_train import FAST_TRAINING, corpus_dir, trained_supernet
from test_latency import CALIBRATION_CALLS, REPO, SAMPLE_CALLS, SMALL, SyntheticDevice, _record

from hat.cli import main
from hat.errors import HatError
from hat.export import save_model
from hat.io import DIGEST_KEY, atomic_path, load_checkpoint, remove_written, save_checkpoint, write_text_atomic
from hat.latency.dataset import counts_path, partial_path, sidecar_path
from hat.latency.table import read_latency_csv
from hat.predictor import load_predictor
from hat.space import write_subconfig
from hat.supernet import SuperTransformer
from hat.tasks import load_task

DEMO = load_task("demo")


def overwrite_tensor_bytes(path: Path, count: int = 16) -> None:
    """Overwrite `count` bytes in the middle of the largest tensor storage of a torch zip file,
    as the probe did (torch's zip reader does not check the CRCs, so the file still loads)."""
    with zipfile.ZipFile(path) as archive:
        entry = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with open(path, "r+b") as f:
        f.seek(entry.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", f.read(4))
        f.seek(entry.header_offset + 30 + name_length + extra_length + entry.file_size // 2)
        f.write(b"\x7f" * count)


def demo_supernet_file(path: Path) -> Path:
    torch.manual_seed(0)
    save_model(SuperTransformer(DEMO.space, 40, 40, padding_idx=1), path, space=DEMO.space, task="demo")
    return path


def hat(*args: str) -> int:
    return main([str(a) for a in args])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("hat: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


# ---- 1. digests -------------------------------------------------------------------------------


def test_corrupted_tensor_bytes_in_a_supernet_are_refused_by_export(tmp_path, capsys):
    supernet = demo_supernet_file(tmp_path / "c.pt")
    config = tmp_path / "sub.yml"
    write_subconfig(DEMO.space.smallest(arbitrary=1), config)
    assert hat("export", "--supernet", supernet, "--config", config, "--out", tmp_path / "ok.pt") == 0
    overwrite_tensor_bytes(supernet)
    torch.load(supernet, weights_only=True)  # still loads without the digest check
    capsys.readouterr()
    assert hat("export", "--supernet", supernet, "--config", config, "--out", tmp_path / "bad.pt") == 2
    assert f"{supernet}: content does not match its sha256 digest" in one_line_error(capsys)
    assert not (tmp_path / "bad.pt").exists()


def test_corrupted_predictor_file_is_refused(tmp_path):
    from test_search_cli import make_predictor

    path = tmp_path / "cpu.pt"
    make_predictor(path, "demo")
    load_predictor(path)
    overwrite_tensor_bytes(path, count=4)
    with pytest.raises(HatError, match=f"{path}: content does not match its sha256 digest"):
        load_predictor(path)


def test_digest_round_trip_covers_plain_values_and_is_recomputed_on_resave(tmp_path):
    state = {
        "model": {"w": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([True, False])},
        "n": 3,
        "x": (1.5, None),
    }
    save_checkpoint(state, tmp_path / "a.pt")
    loaded = load_checkpoint(tmp_path / "a.pt")
    assert DIGEST_KEY not in loaded and torch.equal(loaded["model"]["w"], state["model"]["w"])
    tampered = torch.load(tmp_path / "a.pt", weights_only=True)
    tampered["n"] = 4  # a changed plain value, digest kept
    torch.save(tampered, tmp_path / "b.pt")
    with pytest.raises(HatError, match="content does not match"):
        load_checkpoint(tmp_path / "b.pt")
    save_checkpoint({**loaded, DIGEST_KEY: "stale"}, tmp_path / "c.pt")  # a re-save recomputes it
    assert load_checkpoint(tmp_path / "c.pt")["n"] == 3


def test_training_checkpoints_carry_the_digest_and_a_corrupt_last_one_is_repaired(tmp_path_factory, tmp_path):
    from hat.train import repair_last_checkpoint

    save_dir = tmp_path / "supernet"
    shutil.copytree(trained_supernet(tmp_path_factory), save_dir)
    best = torch.load(save_dir / "checkpoint_best.pt", weights_only=True)
    assert DIGEST_KEY in best and "last_optimizer_state" in best and "extra_state" in best
    overwrite_tensor_bytes(save_dir / "checkpoint_best.pt")
    with pytest.raises(HatError, match="checkpoint_best.pt: content does not match"):
        load_checkpoint(save_dir / "checkpoint_best.pt")
    overwrite_tensor_bytes(save_dir / "checkpoint_last.pt")
    repair_last_checkpoint(save_dir)  # resumes from a verified checkpoint, not the corrupt one
    load_checkpoint(save_dir / "checkpoint_last.pt")


# ---- 2. dictionary size against the model's embedding rows ------------------------------------


@pytest.fixture(scope="module")
def grown_dictionary(tmp_path_factory):
    """The cipher corpus with 50 lines appended to its (joined) dictionaries, and a supernet trained on
    the original."""
    data = tmp_path_factory.mktemp("grown") / "bin"
    shutil.copytree(corpus_dir(tmp_path_factory), data)
    for lang in ("src", "tgt"):
        with open(data / f"dict.{lang}.txt", "a") as f:
            f.writelines(f"extra{i} 1\n" for i in range(50))
    return data, trained_supernet(tmp_path_factory) / "checkpoint_best.pt"


@pytest.mark.parametrize("command", ["inherited-loss", "evaluate", "train-inherit"])
def test_appended_dictionary_is_refused_where_data_meets_the_model(grown_dictionary, tmp_path, capsys, command):
    data, supernet = grown_dictionary
    config = tmp_path / "sub.yml"
    write_subconfig(DEMO.space.smallest(arbitrary=1), config)
    args = {
        "inherited-loss": ["inherited-loss", "--supernet", supernet, "--config", config],
        "evaluate": ["evaluate", "--checkpoint", supernet, "--config", config, "--out", tmp_path / "bleu.txt"],
        "train-inherit": ["train", "subtransformer", "--config", config, "--save-dir", tmp_path / "train",
                          "--init", "inherit", "--supernet", supernet, "--device", "cpu"],
    }[command]  # fmt: skip
    assert hat(*args, "--task", "demo", "--data", data) == 2
    message = one_line_error(capsys)
    assert f"{data}/dict.src.txt:" in message and f"but {supernet} has" in message and "embedding rows" in message
    assert not (tmp_path / "bleu.txt").exists() and not (tmp_path / "train").exists()


def test_search_refuses_an_appended_dictionary(grown_dictionary, tmp_path, capsys):
    from test_search_cli import make_predictor

    data, supernet = grown_dictionary
    from hat.search import predicted_range

    predictor = tmp_path / "cpu.pt"
    achievable = predicted_range(DEMO.space, make_predictor(predictor, "demo").predict_ms)
    budget = (achievable.fastest_ms + achievable.slowest_ms) / 2
    out = tmp_path / "run/subtransformer.yml"
    args = ["search", "--task", "demo", "--supernet", supernet, "--data", data, "--predictor", predictor,
            "--latency-budget", budget, "--out", out, "--population", "10", "--iterations", "2"]  # fmt: skip
    args.append("--no-progress")
    assert hat(*args) == 2
    assert "embedding rows" in one_line_error(capsys) and not out.parent.exists()


# ---- 3. latency sidecar counts after a resume --------------------------------------------------


class KilledAt(SyntheticDevice):
    """A device whose runs, from call `unsettled_from` on, each land in a state of their own (so no
    row's normalized runs agree: each row is re-measured, then flagged) and whose process is killed
    at call `kill_at`."""

    def __init__(self, unsettled_from: int, kill_at: int | None = None):
        super().__init__()
        self.unsettled_from, self.kill_at = unsettled_from, kill_at

    def noise(self) -> float:
        return math.exp(self.rng.gauss(0.0, 0.5)) if self.calls > self.unsettled_from else 1.0

    def measure(self, config):
        if self.calls == self.kill_at:
            raise KeyboardInterrupt  # what SIGINT does; SIGKILL leaves the same partial file
        return super().measure(config)


def test_sidecar_counts_flagged_and_remeasured_rows_of_every_session(tmp_path):
    out = tmp_path / "d.csv"
    # Session 1: calibration (calls 0-5) and samples 1-10 (17 calls each) settle; from call 176 every
    # run is in a state of its own: samples 11-20 are measured twice each and written flagged; the
    # process is killed inside sample 21.
    unsettled_from = CALIBRATION_CALLS + 10 * SAMPLE_CALLS
    with pytest.raises(KeyboardInterrupt):
        killed = KilledAt(unsettled_from, kill_at=unsettled_from + 10 * 2 * SAMPLE_CALLS + 5)
        _record(out, killed, samples=30, max_attempts=2, **SMALL)
    assert len(read_latency_csv(partial_path(out), min_rows=0)) == 20 and counts_path(partial_path(out)).is_file()
    # Session 2: the device is steady again; samples 21-30 settle.
    summary = _record(out, KilledAt(unsettled_from=10**6), samples=30, max_attempts=2, **SMALL)
    rows = read_latency_csv(out)
    assert [row.drift_flag for row in rows] == [0] * 10 + [1] * 10 + [0] * 10
    sidecar = json.loads(sidecar_path(out).read_text())
    assert sidecar["flagged_rows"] == summary.flagged_rows == 10
    assert sidecar["remeasured_rows"] == summary.remeasured_rows == 10
    assert sidecar["resumed_rows"] == 20 and not counts_path(partial_path(out)).exists()


# ---- 6. file modes follow the umask -------------------------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_outputs_get_the_mode_the_umask_allows(tmp_path, umask, mode):
    from test_search_cli import make_predictor

    previous = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "run.json", "{}\n")
        save_checkpoint({"w": torch.zeros(2)}, tmp_path / "checkpoint.pt")
        make_predictor(tmp_path / "cpu.pt", "demo")
        with atomic_path(tmp_path / "manifest.json") as tmp:
            tmp.write_text("{}")
    finally:
        os.umask(previous)
    for name in ("run.json", "checkpoint.pt", "cpu.pt", "manifest.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


# ---- a writer killed mid-write ------------------------------------------------------------------

KILLED_MID_WRITE = """
import os, signal, sys
from hat.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_text("half")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_mid_write(final: Path) -> int:
    """Run atomic_path(final) in a child that SIGKILLs itself mid-write; returns the child's PID."""
    child = subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, str(final)], cwd=REPO)
    assert child.wait() == -signal.SIGKILL
    return child.pid


def test_a_killed_writers_temporary_is_removed_by_the_next_write_and_by_remove_written(tmp_path):
    """SIGKILL inside atomic_path leaves its temporary; the next write of the same file deletes it but
    keeps a live writer's (this process's), another host's and another file's; remove_written too."""
    final, host = tmp_path / "state.json", socket.gethostname()
    pid = _killed_mid_write(final)
    (orphan,) = tmp_path.iterdir()
    assert orphan.name.startswith(f".state.json.{pid}@{host}.") and orphan.read_text() == "half"
    kept = [
        tmp_path / f".state.json.{os.getpid()}@{host}.abcdefgh.tmp",  # a writer still running
        tmp_path / f".state.json.{pid}@other-node.cluster.abcdefgh.tmp",  # a shared disk: not our PID
        tmp_path / f".state.json.partial.{pid}@{host}.abcdefgh.tmp",  # another file's temporary
    ]
    for path in kept:
        path.write_text("kept")
    write_text_atomic(final, "{}\n")
    assert sorted(tmp_path.iterdir()) == sorted([final, *kept]) and final.read_text() == "{}\n"
    _killed_mid_write(final)
    assert len(list(tmp_path.iterdir())) == 5
    remove_written(final)
    assert sorted(tmp_path.iterdir()) == sorted(kept)


# ---- 8. smaller points --------------------------------------------------------------------------


def test_failed_subtransformer_training_leaves_no_run_file_or_initial_model(tmp_path_factory, tmp_path, capsys):
    config = tmp_path / "sub.yml"
    write_subconfig(DEMO.space.smallest(arbitrary=1), config)
    save_dir = tmp_path / "train"
    overrides = [f"--override={key}={value}" for key, value in FAST_TRAINING.items()]
    args = ["train", "subtransformer", "--task", "demo", "--data", corpus_dir(tmp_path_factory), "--config", config,
            "--save-dir", save_dir, "--device", "cpu", *overrides, "--override", "no-such-option=1"]  # fmt: skip
    assert hat(*args) == 2
    assert "unknown fairseq option '--no-such-option'" in one_line_error(capsys)
    assert not save_dir.exists()


def test_a_pickled_payload_is_refused_in_a_short_line(tmp_path, capsys):
    class Payload:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "ran"),))

    torch.save({"hat": Payload()}, tmp_path / "evil.pt")
    config = tmp_path / "sub.yml"
    write_subconfig(DEMO.space.smallest(arbitrary=1), config)
    assert hat("export", "--supernet", tmp_path / "evil.pt", "--config", config, "--out", tmp_path / "o.pt") == 2
    message = one_line_error(capsys)
    assert "refused without running them" in message and "weights_only" not in message and len(message) < 200
    assert not (tmp_path / "ran").exists()
