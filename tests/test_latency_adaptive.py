"""`hat latency dataset --samples auto`: rounds of recording until the predictor stops improving."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from hat.cli.latency import adaptive_accuracy
from hat.errors import HatError
from hat.latency.adaptive import StopRule, record_adaptive
from hat.latency.dataset import DriftSettings, partial_path, sample_sequence, sidecar_path
from hat.latency.measure import Measurement
from hat.latency.table import read_latency_csv
from hat.predictor import cost_terms
from hat.space import hat_features
from hat.tasks import load_task

DEMO = load_task("demo")


class LinearDevice:
    """Latency exactly linear in the cost terms (each term about 1 ms), times 1 + 2 % Gaussian noise.
    The noise is a function of the config, so a killed and resumed recording times every row as an
    uninterrupted one would."""

    def __init__(self, seed: int = 0, delay_s: float = 0.0):
        self.seed, self.delay_s = seed, delay_s
        reference = cost_terms(np.array([hat_features(c) for c in sample_sequence(DEMO.latency_space, 9, 200)]))
        self.weights = 1.0 / reference.mean(axis=0)  # [T]

    def measure(self, config) -> Measurement:
        time.sleep(self.delay_s)
        noise = np.random.default_rng([self.seed, zlib.crc32(repr(config).encode())]).normal()
        total = float(cost_terms(np.array([hat_features(config)]))[0] @ self.weights) * (1 + 0.02 * noise)
        return Measurement(0.3 * total, 0.0, 0.7 * total, 0.0, runs=3)


RULE = StopRule(floor=50, round_rows=25, ceiling=500)
ONE_RUN_ROWS = DriftSettings(runs=1, warmup=0, runs_per_reference=1)  # a row: one run between two reference runs


def _record(out, rule: StopRule = RULE, device: LinearDevice | None = None):
    return record_adaptive(
        out,
        rule=rule,
        accuracy=adaptive_accuracy(DEMO, seed=1),
        task=DEMO,
        seed=1,
        measure=(device or LinearDevice()).measure,
        settings=ONE_RUN_ROWS,
        clock=lambda: 1.7e9,
        progress=False,
    )


def test_stop_rule_stops_early_on_a_linear_device_within_floor_and_ceiling(tmp_path):
    out = tmp_path / "cpu.csv"
    rule = RULE
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


# ---- a killed `--samples auto` recording resumes -------------------------------------------

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
KILLABLE = """
import sys
sys.path.insert(0, sys.argv[1])
from test_latency_adaptive import LinearDevice, _record
_record(sys.argv[2], device=LinearDevice(delay_s=0.01))
"""


def _without_round_counts(curve):
    return [{key: value for key, value in point.items() if key != "round"} for point in curve]


def _kill_mid_round(command: list[str], out: Path, rounds_done: int, timeout_s: float) -> tuple[list, int]:
    """Start `command`, SIGKILL it once `rounds_done` rounds are on the curve and the next round has
    written 2 rows; returns the curve at the kill and the rows the kill left (staged or partial)."""
    state, stage = out.with_name(out.stem + ".rounds.json"), out.with_name(out.stem + ".rounds.csv")
    partial = partial_path(stage)

    def rows_in(path: Path) -> int:
        return path.read_text().count("\n") - 1 if path.exists() else 0  # complete lines only

    def curve() -> list:
        return json.loads(state.read_text())["curve"] if state.exists() else []

    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        done = curve()
        if len(done) >= rounds_done and rows_in(partial) >= done[-1]["rows"] + 2:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL and not out.exists(), "the run finished before the kill"
    return curve(), max(rows_in(partial), rows_in(stage))


def test_killed_adaptive_recording_resumes_as_if_never_interrupted(tmp_path):
    """SIGKILL mid-round (after 2 rounds), the same call again: every recorded row is kept, none
    repeated, and the rows, curve and stop decision equal an uninterrupted run's on the same device."""
    out = tmp_path / "killed" / "cpu.csv"
    out.parent.mkdir()
    command = [sys.executable, "-c", KILLABLE, str(TESTS), str(out)]
    curve_at_kill, rows_at_kill = _kill_mid_round(command, out, rounds_done=2, timeout_s=120)
    assert len(curve_at_kill) >= 2 and rows_at_kill > curve_at_kill[-1]["rows"]
    resumed = _record(out)
    uninterrupted = _record(tmp_path / "cpu.csv")

    assert resumed["stopped"] == uninterrupted["stopped"] and resumed["rows"] == uninterrupted["rows"]
    assert _without_round_counts(resumed["curve"]) == _without_round_counts(uninterrupted["curve"])
    assert resumed["curve"][: len(curve_at_kill)] == curve_at_kill  # the rounds before the kill, as saved
    rows = read_latency_csv(out, space=DEMO.latency_space)
    assert [r.config for r in rows] == sample_sequence(DEMO.latency_space, 1, resumed["rows"])  # no gap, no repeat
    reference_rows = read_latency_csv(tmp_path / "cpu.csv", space=DEMO.latency_space)
    assert [r.total_ms for r in rows] == [r.total_ms for r in reference_rows]  # timed as uninterrupted
    sidecar = json.loads(sidecar_path(out).read_text())
    assert sidecar["resumed_rows"] == rows_at_kill - curve_at_kill[-1]["rows"]  # the killed round's rows, kept
    assert sorted(p.name for p in out.parent.iterdir()) == ["cpu.csv", "cpu.env.json"]


def test_adaptive_recording_killed_while_finishing_records_no_more(tmp_path, monkeypatch):
    """A kill after the last round's point was saved but before OUT was written: the rerun finishes
    with the rows it has instead of recording another round."""
    import hat.latency.adaptive as adaptive_module

    out = tmp_path / "cpu.csv"
    write = adaptive_module.write_text_atomic

    def killed_at_the_sidecar(path, text):
        if Path(path) == sidecar_path(out):
            raise KeyboardInterrupt  # as a kill would stop it: the curve saved, OUT not yet written
        write(path, text)

    monkeypatch.setattr(adaptive_module, "write_text_atomic", killed_at_the_sidecar)
    with pytest.raises(KeyboardInterrupt):
        _record(out)
    monkeypatch.setattr(adaptive_module, "write_text_atomic", write)
    device = LinearDevice()
    calls = []
    resumed = record_adaptive(out, rule=RULE, accuracy=adaptive_accuracy(DEMO, seed=1), task=DEMO, seed=1,
                              measure=lambda config: calls.append(config) or device.measure(config),
                              settings=ONE_RUN_ROWS, clock=lambda: 1.7e9, progress=False)  # fmt: skip
    assert calls == [] and resumed == _record(tmp_path / "again.csv")  # no sample timed, the same result
    assert len(read_latency_csv(out, space=DEMO.latency_space)) == resumed["rows"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.csv", "again.env.json", "cpu.csv", "cpu.env.json"]


@pytest.mark.slow
def test_dataset_cli_samples_auto_resumes_after_sigkill(tmp_path):
    """`hat latency dataset --samples auto` on the demo model, killed by SIGKILL in its second round
    and rerun unchanged: exact row counts, no row lost or repeated, the stop rule's decision follows
    its curve."""
    out = tmp_path / "demo.csv"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dict.tgt.txt").write_text("".join(f"t{i} 1\n" for i in range(60)))
    command = [sys.executable, "-c", "import sys; from hat.cli import main; sys.exit(main(sys.argv[1:]))",
               "latency", "dataset", "--task", "demo", "--samples", "auto", "--auto-floor", "25", "--auto-round", "5",
               "--auto-ceiling", "40", "--data", str(tmp_path / "data"), "--seed", "4", "--runs", "2", "--warmup", "0",
               "--threads", "1", "--tolerance", "10", "--out", str(out), "--no-progress"]  # fmt: skip
    curve_at_kill, rows_at_kill = _kill_mid_round(command, out, rounds_done=1, timeout_s=300)
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    adaptive = json.loads(sidecar_path(out).read_text())["adaptive"]
    curve, rule = adaptive["curve"], StopRule(**adaptive["rule"])
    assert [point["rows"] for point in curve] == list(range(25, adaptive["rows"] + 1, 5)) and adaptive["rows"] <= 40
    assert curve[: len(curve_at_kill)] == curve_at_kill
    assert all(rule.stop_reason(curve[:k]) is None for k in range(1, len(curve)))
    assert rule.stop_reason(curve) == adaptive["stopped"]
    rows = read_latency_csv(out, space=DEMO.latency_space)
    assert [r.config for r in rows] == sample_sequence(DEMO.latency_space, 4, adaptive["rows"])
    sidecar = json.loads(sidecar_path(out).read_text())
    assert sidecar["resumed_rows"] == rows_at_kill - curve_at_kill[-1]["rows"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "demo.csv", "demo.env.json"]
