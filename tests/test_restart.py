"""Issue #19 point 5: after a SIGKILL of the whole workflow, the README's command rerun unchanged
continues (no IncompleteFilesException, no LockException, no manual --unlock).

The DAG runs with the stand-in `hat` of test_workflow.py; a wrapper in front of it makes
`hat train supernet` hang (after writing the resume state it would have) until the test kills
Snakemake's whole process group, as an OOM kill, a lost terminal or a node reboot would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_workflow import BIN, FAKE_HAT, REPO, fake_hat_path, snakemake  # noqa: F401 (a fixture)

HANGING_HAT = """\
#!/bin/sh
if [ "$1 $2" = "train supernet" ] && [ -e "{hang_flag}" ]; then
    touch "{started}"
    sleep 600
fi
exec "{fake_hat}" "$@"
"""


def readme_command(workdir: Path, path: str, **popen) -> subprocess.Popen:
    """`snakemake --cores 2`, as the README says, run in `workdir` (a copy of the repo's layout)."""
    env = {**os.environ, "PATH": path}
    return subprocess.Popen(
        [str(BIN / "snakemake"), "--cores", "2"], cwd=workdir, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen,
    )  # fmt: skip


def test_sigkill_during_train_supernet_then_the_same_command_finishes(tmp_path):
    workdir = tmp_path / "repo"
    workdir.mkdir()
    for name in ("Snakefile", "rules", "config", "profiles", "workflow", "envs"):
        (workdir / name).symlink_to(REPO / name)
    bin_dir, real_fake = tmp_path / "bin", tmp_path / "fake"
    bin_dir.mkdir()
    real_fake.mkdir()
    fake = real_fake / "hat"
    fake.write_text(FAKE_HAT.format(python=sys.executable, real_hat=str(BIN / "hat")))
    hang_flag, started = tmp_path / "hang", tmp_path / "started"
    hanging = bin_dir / "hat"
    hanging.write_text(HANGING_HAT.format(hang_flag=hang_flag, started=started, fake_hat=fake))
    for script in (fake, hanging):
        script.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}"

    hang_flag.touch()
    first = readme_command(workdir, path, start_new_session=True)
    deadline = time.monotonic() + 120
    while not started.exists():
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()[0]
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    # What the kill left: Snakemake's locks and the running job's incomplete marker.
    assert list((workdir / ".snakemake/locks").iterdir())
    assert list((workdir / ".snakemake/incomplete").iterdir())

    hang_flag.unlink()
    rerun = readme_command(workdir, path)
    output = rerun.communicate(timeout=300)[0]
    assert rerun.returncode == 0, output
    assert "LockException" not in output and "IncompleteFilesException" not in output
    assert (workdir / "results/demo/supernet/checkpoint_best.pt").is_file()
    assert (workdir / "results/demo/summary.csv").is_file()


def test_a_live_run_still_locks_the_directory(tmp_path, fake_hat_path):  # noqa: F811 (the imported fixture)
    """Stale-lock removal must not break Snakemake's protection: beside a live run (one holding
    the instance flock), a second run over the same outputs is refused and the locks stay."""
    import fcntl

    lock = tmp_path / ".snakemake/locks/0.output.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("resources/demo/raw/manifest.json\n")
    with open(tmp_path / ".snakemake/hat-instance.flock", "w") as live:
        fcntl.flock(live, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = snakemake(tmp_path, "--cores", "1", path=fake_hat_path)
    assert result.returncode != 0
    assert "LockException" in result.stdout + result.stderr
    assert lock.is_file() and not (tmp_path / "resources").exists()
