"""Issue #19 points 4 and 7: every OS-level fault is one line naming the file and the cause, exit 2,
no partial output (and, where it can be known up front, before the expensive work); budget edge
cases are refused.

Read-only and full file systems are real tmpfs mounts when the tests run as root (this project's
VM); elsewhere the writer is patched to fail with the same errno.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from fixtures_train import corpus_dir
from test_integrity import demo_supernet_file, hat, one_line_error
from test_latency import SyntheticDevice, _record
from test_workflow import snakemake, write_override

from hat.space import write_subconfig
from hat.tasks import load_task

DEMO = load_task("demo")


def _mount_tmpfs(directory: Path, options: str) -> bool:
    directory.mkdir()
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)]).returncode == 0


def _failing_mkstemp(monkeypatch, directory: Path, code: int) -> None:
    """Where no tmpfs can be mounted: file creation under `directory` fails with `code`."""
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).is_relative_to(directory):
            raise OSError(code, os.strerror(code), str(Path(dir) / kwargs.get("prefix", "")))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


@pytest.fixture
def readonly_dir(tmp_path, monkeypatch):
    directory = tmp_path / "ro"
    mounted = _mount_tmpfs(directory, "ro,size=1m")
    if not mounted:
        _failing_mkstemp(monkeypatch, directory, errno.EROFS)
    yield directory
    if mounted:
        subprocess.run(["umount", str(directory)], check=True)


@pytest.fixture
def full_dir(tmp_path, monkeypatch):
    directory = tmp_path / "full"
    mounted = _mount_tmpfs(directory, "size=256k")
    if mounted:
        fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError as err:
            assert err.errno == errno.ENOSPC
        finally:
            os.close(fd)
    else:
        _failing_mkstemp(monkeypatch, directory, errno.ENOSPC)
    yield directory
    if mounted:
        subprocess.run(["umount", str(directory)], check=True)


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "sub.yml"
    write_subconfig(DEMO.space.smallest(arbitrary=1), path)
    return path


@pytest.fixture
def latency_csv(tmp_path) -> Path:
    out = tmp_path / "cpu.csv"
    _record(out, SyntheticDevice(), samples=40)
    return out


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != "filler")


# ---- read-only output directory -----------------------------------------------------------------

READ_ONLY = "Read-only file system"


def test_export_into_a_read_only_dir(tmp_path, readonly_dir, config, capsys):
    supernet = demo_supernet_file(tmp_path / "c.pt")
    assert hat("export", "--supernet", supernet, "--config", config, "--out", readonly_dir / "m.pt") == 2
    assert f"{readonly_dir / 'm.pt'}: cannot write ({READ_ONLY})" in one_line_error(capsys)


def test_predictor_train_into_a_read_only_dir(readonly_dir, latency_csv, capsys):
    out = readonly_dir / "cpu.pt"
    assert hat("predictor", "train", latency_csv, "--task", "demo", "--hardware", "cpu", "--out", out) == 2
    assert f"{readonly_dir}/cpu." in (message := one_line_error(capsys)) and READ_ONLY in message


def test_space_sample_into_a_read_only_dir(readonly_dir, capsys):
    assert hat("space", "sample", "--task", "demo", "-n", "2", "--seed", "1", "--out-dir", readonly_dir) == 2
    assert f"{readonly_dir}/sample0000.yml: cannot write ({READ_ONLY})" in one_line_error(capsys)


def test_latency_dataset_into_a_read_only_dir_fails_before_calibrating(readonly_dir, monkeypatch, capsys):
    def never(self, config):
        raise AssertionError("calibration started although the output cannot be written")

    monkeypatch.setattr("hat.latency.measure.LatencyMeter.measure", never)
    out = readonly_dir / "cpu.csv"
    args = ("latency", "dataset", "--task", "demo", "--vocab-size", "512", "--samples", "3", "--out", out)
    assert hat(*args, "--no-progress") == 2
    assert f"{readonly_dir}: cannot write there ({READ_ONLY})" in one_line_error(capsys)


def test_search_into_a_read_only_dir_fails_before_loading_anything(tmp_path, readonly_dir, capsys):
    args = ["search", "--task", "demo", "--supernet", tmp_path / "none.pt", "--data", tmp_path,
            "--predictor", tmp_path / "none.pt", "--latency-budget", "20", "--out", readonly_dir / "s.yml"]  # fmt: skip
    assert hat(*args) == 2
    assert f"{readonly_dir}: cannot write there ({READ_ONLY})" in one_line_error(capsys)


# ---- full disk ----------------------------------------------------------------------------------


def test_export_onto_a_full_disk(tmp_path, full_dir, config, capsys):
    supernet = demo_supernet_file(tmp_path / "c.pt")
    assert hat("export", "--supernet", supernet, "--config", config, "--out", full_dir / "m.pt") == 2
    assert f"{full_dir / 'm.pt'}: cannot write (No space left on device)" in one_line_error(capsys)
    assert _files(full_dir) == []  # no temporary left behind


def test_text_output_onto_a_full_disk(full_dir, capsys):
    assert hat("space", "sample", "--task", "demo", "-n", "40", "--seed", "1", "--out-dir", full_dir) == 2
    assert "No space left on device" in one_line_error(capsys)
    assert not [name for name in _files(full_dir) if name.endswith(".tmp")]


# ---- permission, missing files, wrong contents -------------------------------------------------


def test_permission_denied_names_the_file(tmp_path, monkeypatch, capsys):
    _failing_mkstemp(monkeypatch, tmp_path / "locked", errno.EACCES)  # root ignores mode bits
    out = tmp_path / "locked/sample"
    assert hat("space", "sample", "--task", "demo", "--seed", "1", "--out-dir", out) == 2
    assert f"{out}/sample0000.yml: cannot write (Permission denied)" in one_line_error(capsys)


def test_missing_supernet_for_inherited_training(tmp_path_factory, tmp_path, config, capsys):
    missing = tmp_path / "missing.pt"
    data = corpus_dir(tmp_path_factory)
    args = ["train", "subtransformer", "--task", "demo", "--data", data, "--config", config,
            "--save-dir", tmp_path / "train", "--init", "inherit", "--supernet", missing]  # fmt: skip
    assert hat(*args) == 2
    assert f"{missing}: No such file or directory" in one_line_error(capsys)
    assert not (tmp_path / "train").exists()


NOT_UTF8 = b"encoder-embed-dim-subtransformer: 64\n# caf\xe9\n"


def test_non_utf8_yaml(tmp_path, capsys):
    path = tmp_path / "sub.yml"
    path.write_bytes(NOT_UTF8)
    assert hat("space", "validate", path, "--task", "demo") == 2
    assert f"{path}: not UTF-8 text (byte 0xe9 at offset" in one_line_error(capsys)


def test_non_utf8_csv(tmp_path, latency_csv, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(latency_csv.read_bytes() + b"caf\xe9\n")
    assert hat("predictor", "train", bad, "--task", "demo", "--hardware", "cpu", "--out", tmp_path / "p.pt") == 2
    assert f"{bad}: not UTF-8 text" in one_line_error(capsys)
    assert not (tmp_path / "p.pt").exists()


@pytest.mark.parametrize("command", ["export", "predictor predict", "search"])
def test_a_six_byte_text_file_as_checkpoint_or_predictor(tmp_path, config, latency_csv, capsys, command):
    text = tmp_path / "notes.pt"
    text.write_text("hello\n")
    args = {
        "export": ["export", "--supernet", text, "--config", config, "--out", tmp_path / "o.pt"],
        "predictor predict": ["predictor", "predict", text, latency_csv, "--out", tmp_path / "o.csv"],
        "search": ["search", "--task", "demo", "--supernet", text, "--data", tmp_path, "--predictor", text,
                   "--latency-budget", "20", "--out", tmp_path / "o.yml"],
    }[command]  # fmt: skip
    assert hat(*args) == 2
    assert f"{text}: not a loadable HAT checkpoint (not a torch checkpoint file)" in one_line_error(capsys)


def test_duplicate_yaml_key_is_refused(tmp_path, capsys):
    path = tmp_path / "sub.yml"
    path.write_text("encoder-embed-dim-subtransformer: 64\nencoder-embed-dim-subtransformer: 32\n")
    assert hat("space", "validate", path, "--task", "demo") == 2
    assert f"{path}: line 2: key 'encoder-embed-dim-subtransformer' appears twice" in one_line_error(capsys)


def test_broken_pipe_is_one_line():
    command = [sys.executable, "-c", "import sys; from hat.cli import main; sys.exit(main(sys.argv[1:]))"]
    process = subprocess.Popen(
        [*command, "space", "info", "--task", "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.close()  # the reader is gone before anything is written (`| head` that exited)
    stderr = process.stderr.read().decode()
    assert process.wait() == 2
    assert stderr.strip() == "hat: error: stdout: the reading end of the pipe was closed (Broken pipe)"


# ---- 7. budget edge cases ------------------------------------------------------------------------


@pytest.mark.parametrize("budget", ["nan", "inf", "-inf", "0"])
def test_search_refuses_a_non_finite_budget_before_loading_anything(tmp_path, capsys, budget):
    args = ["search", "--task", "demo", "--supernet", tmp_path / "none.pt", "--data", tmp_path,
            "--predictor", tmp_path / "none.pt", f"--latency-budget={budget}", "--out", tmp_path / "s.yml"]  # fmt: skip
    assert hat(*args) == 2
    assert "--latency-budget must be a positive number of ms" in one_line_error(capsys)


def test_config_budgets_get_exact_run_directories(tmp_path):
    override = write_override(tmp_path, "tasks: {demo: {budgets_ms: {cpu: [1234567, 18, 18.00001]}}}")
    result = snakemake(tmp_path, "--configfile", str(override), "--dry-run")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for run in ("cpu@1234567ms", "cpu@18ms", "cpu@18.00001ms"):
        assert f"results/demo/{run}/bleu.txt" in output, run


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("tasks: {demo: {budgets_ms: {cpu: [.nan]}}}", "tasks.demo.budgets_ms.cpu[0]: nan is not a finite number"),
        ("tasks: {demo: {budgets_ms: {cpu: [.inf]}}}", "tasks.demo.budgets_ms.cpu[0]: inf is not a finite number"),
        ("tasks: {demo: {budgets_ms: {cpu: [18, 18.0]}}}", "tasks.demo.budgets_ms.cpu[1]: 18.0 repeats"),
        ("tasks: {demo: {budgets_ms: {cpu: [18]}}}\ntasks: {demo: {budgets_ms: {cpu: [20]}}}\n",
         "line 2: key 'tasks' appears twice in one mapping"),
    ],
)  # fmt: skip
def test_config_budget_edge_cases_are_refused(tmp_path, override, message):
    result = snakemake(tmp_path, "--configfile", str(write_override(tmp_path, override)), "--dry-run")
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "invalid config: " in output and message in output, output
