"""Latency protocol, CSV format, drift guard, resume, published-data fetch, torch-only path."""

from __future__ import annotations

import functools
import http.server
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hat.errors import HatError
from hat.latency import published
from hat.latency.dataset import DriftSettings, partial_path, record_dataset, sample_sequence, sidecar_path
from hat.latency.measure import LatencyMeter, Measurement, cpu_timer, data_vocab_size, dummy_inputs, trimmed_stats
from hat.latency.table import HAT_COLUMNS, read_latency_csv, row_from_config, write_latency_csv
from hat.space import hat_features, write_subconfig
from hat.tasks import load_task

REPO = Path(__file__).resolve().parents[1]
SHARED_LATENCY = REPO.parent / "shared" / "hat-latency"
HAT_CSV = SHARED_LATENCY / "wmt14ende_cpu_raspberrypi_all.csv"
needs_shared = pytest.mark.skipif(not HAT_CSV.is_file(), reason="../shared/hat-latency absent")
DEMO = load_task("demo")


# ---- statistics and protocol ---------------------------------------------------------------


def test_trimmed_stats_drop_ten_percent_each_end():
    samples = [100.0] + [float(x) for x in range(1, 19)] + [-50.0]  # 20 samples: ⌊0.1·20⌋ = 2 cut per end
    mean, std = trimmed_stats(samples)
    kept = list(range(2, 18))  # -50, 1 and 18, 100 dropped
    assert mean == pytest.approx(sum(kept) / 16)
    assert std == pytest.approx((sum((x - mean) ** 2 for x in kept) / 16) ** 0.5)
    assert trimmed_stats([3.0, 5.0]) == (4.0, 1.0)  # n < 10 keeps everything (HAT kept only the faster)


def test_dummy_inputs_follow_hat():
    src, lengths, prev = dummy_inputs(5, beam=3, device="cpu")
    assert src.tolist() == [[2, 7, 7, 7, 7]] and lengths.tolist() == [5]
    assert prev.tolist() == [[7, 7, 7, 7, 2]] * 3


def test_bigger_config_is_slower_and_parts_reported():
    meter = LatencyMeter(DEMO, runs=5, warmup=1, threads=1, vocab_size=512)
    small = meter.measure(DEMO.latency_space.smallest(arbitrary=-1))
    large = meter.measure(DEMO.latency_space.largest(arbitrary=2))
    for m in (small, large):
        assert m.encoder_ms > 0 and m.decoder_ms > 0 and m.runs == 5
        assert m.total_ms == pytest.approx(m.encoder_ms + m.decoder_ms)
    assert large.total_ms > small.total_ms
    protocol = meter.protocol()
    assert protocol["beam"] == 5 and protocol["sentence_length"] == 30
    assert protocol["environment"]["threads"] == 1 and protocol["vocab_size"] == 512


def test_measure_rejects_config_outside_latency_space():
    meter = LatencyMeter(DEMO, runs=1, warmup=0, vocab_size=512)
    wmt_config = load_task("wmt14ende").latency_space.smallest()
    with pytest.raises(HatError, match="not in the space"):
        meter.measure(wmt_config)


def test_vocabulary_must_be_given():
    with pytest.raises(HatError, match="vocabulary size unknown: give --data"):
        LatencyMeter(DEMO)


def test_data_vocab_size_is_fairseqs_dictionary_length(tmp_path):
    from fairseq.data import Dictionary

    (tmp_path / "dict.tgt.txt").write_text("".join(f"t{i} {100 - i}\n" for i in range(37)))
    assert data_vocab_size(tmp_path, DEMO) == len(Dictionary.load(str(tmp_path / "dict.tgt.txt"))) == 41
    with pytest.raises(HatError, match="dict.tgt.txt: dictionary not found"):
        data_vocab_size(tmp_path / "nowhere", DEMO)


def test_timer_scale_multiplies_every_timing(monkeypatch):
    monkeypatch.setenv("HAT_TIMER_SCALE", "1000")
    assert cpu_timer(lambda: time.sleep(0.002)) >= 2000  # 2 ms read as >= 2 s
    monkeypatch.setenv("HAT_TIMER_SCALE", "-1")
    with pytest.raises(HatError, match="HAT_TIMER_SCALE=-1: must be a positive number"):
        cpu_timer(lambda: None)


def test_fp16_on_cpu_is_a_user_error():
    with pytest.raises(HatError, match="--fp16 needs --device cuda"):
        LatencyMeter(DEMO, fp16=True)


# ---- CSV format ----------------------------------------------------------------------------


@needs_shared
def test_hat_csv_round_trip(tmp_path):
    rows = read_latency_csv(HAT_CSV, space=load_task("wmt14ende").latency_space)
    assert len(rows) == 2000 and rows[0].config is None
    copy = tmp_path / "copy.csv"
    write_latency_csv(copy, rows)
    header = copy.read_text().splitlines()[0].split(",")
    assert tuple(header[:14]) == HAT_COLUMNS  # HAT's tools index these positions
    assert read_latency_csv(copy) == rows


def test_per_layer_config_round_trip(tmp_path):
    configs = sample_sequence(DEMO.latency_space, seed=3, count=4)
    rows = [
        row_from_config(c, encoder_ms=1.5, decoder_ms=20.25, encoder_std_ms=0.0, decoder_std_ms=1.0, timestamp=1e9)
        for c in configs
    ]
    path = tmp_path / "ours.csv"
    write_latency_csv(path, rows)
    back = read_latency_csv(path, space=DEMO.latency_space)
    assert [r.config for r in back] == configs
    assert [list(r.features) for r in back] == [hat_features(c) for c in configs]


def _one_row_csv(tmp_path, edit) -> Path:
    config = DEMO.latency_space.smallest()
    row = row_from_config(config, encoder_ms=1.0, decoder_ms=2.0, encoder_std_ms=0.1, decoder_std_ms=0.2)
    path = tmp_path / "bad.csv"
    write_latency_csv(path, [row, row])
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")
    return path


def _replace_cell(column: str, value: str):
    def edit(lines):
        header = lines[0].split(",")
        index = header.index(column)
        cells = lines[2].split(",")
        cells[index] = value
        return [lines[0], lines[1], ",".join(cells)]

    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda lines: [lines[0].replace("latency_mean_decoder,", "")] + lines[1:],
            "missing column 'latency_mean_decoder'",
        ),
        (lambda lines: [lines[0] + ",bogus"] + [line + ",1" for line in lines[1:]], "unexpected column 'bogus'"),
        (_replace_cell("latency_mean_encoder", "nan"), "row 2 column latency_mean_encoder: nan is not a finite"),
        (_replace_cell("latency_mean_decoder", "0"), "row 2 column latency_mean_decoder: 0 must be positive"),
        (_replace_cell("latency_std_decoder", "-1"), "row 2 column latency_std_decoder: -1 must be non-negative"),
        (_replace_cell("decoder_embed_dim", "abc"), "row 2 column decoder_embed_dim: not a number"),
        (_replace_cell("decoder_embed_dim", "100"), "row 2 column decoder_embed_dim: 100.0 disagrees"),
        (lambda lines: lines[:2] + [lines[2] + ",5"], "row 2 has 18 cells, expected 17"),
    ],
)
def test_bad_csv_is_one_line_error(tmp_path, edit, message):
    path = _one_row_csv(tmp_path, edit)
    with pytest.raises(HatError, match=message) as err:
        read_latency_csv(path, space=DEMO.latency_space)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@needs_shared
def test_features_outside_space_name_row_and_column(tmp_path):
    lines = HAT_CSV.read_text().splitlines()[:4]
    cells = lines[3].split(",")
    cells[5] = "7"  # decoder_layer_num
    path = tmp_path / "hat.csv"
    path.write_text("\n".join(lines[:3] + [",".join(cells)]) + "\n")
    with pytest.raises(HatError, match=r"row 3 column decoder_layer_num: 7 is outside space wmt14ende-latency"):
        read_latency_csv(path, space=load_task("wmt14ende").latency_space)
    with pytest.raises(HatError, match="hat.csv: 3 rows, at least 10 needed"):
        read_latency_csv(path, min_rows=10)


# ---- dataset recording: drift guard and resume ---------------------------------------------


class SyntheticDevice:
    """Latency = a cost formula × a slowdown factor that depends on how many runs have been timed
    (each `measure` call is one run: the guard's unit), optionally × seeded noise: log-normal jitter
    on every run plus, on a share of the runs, a burst (another process took the CPU), as on this
    project's shared VM."""

    def __init__(self, slow_calls=range(0), slowdown: float = 1.25, jitter: float = 0.0, bursts: float = 0.0):
        self.calls = 0
        self.slow_calls = slow_calls
        self.slowdown = slowdown
        self.jitter, self.bursts = jitter, bursts
        self.rng = random.Random(0)

    @staticmethod
    def true_ms(config) -> float:
        return 1.0 + sum(f * config.decoder_embed_dim for f in config.decoder_ffn_embed_dim) * 1e-4

    def noise(self) -> float:
        burst = self.rng.uniform(1.3, 2.5) if self.rng.random() < self.bursts else 1.0
        return math.exp(self.rng.gauss(0.0, self.jitter)) * burst

    def measure(self, config) -> Measurement:
        factor = self.slowdown if self.calls in self.slow_calls else 1.0
        self.calls += 1
        total = self.true_ms(config) * factor * self.noise()
        return Measurement(0.1 * total, 0.0, 0.9 * total, 0.0, runs=1)


# Small settings for the synthetic device: calibration is 1 + 5 calls; each sample 17 calls
# (1 warm-up, then R S S R S S R S S R S S R S S R: 10 timed runs between 6 reference runs).
SMALL = {"runs": 10, "warmup": 1, "runs_per_reference": 2, "baseline_runs": 5}
CALIBRATION_CALLS, SAMPLE_CALLS = 6, 17


def _sample_calls(first: int, last: int) -> range:
    """The calls that time samples first..last (1-based) with SMALL settings."""
    return range(CALIBRATION_CALLS + SAMPLE_CALLS * (first - 1), CALIBRATION_CALLS + SAMPLE_CALLS * last)


def _record(out, device, samples=30, seed=1, **settings):
    return record_dataset(
        out,
        task=DEMO,
        samples=samples,
        seed=seed,
        measure=device.measure,
        settings=DriftSettings(**settings),
        clock=lambda: 1.7e9,
        progress=False,
    )


def _recorded_over_true(out) -> list[float]:
    return [r.total_ms / SyntheticDevice.true_ms(r.config) for r in read_latency_csv(out, space=DEMO.latency_space)]


def test_drift_guard_divides_out_a_slow_stretch(tmp_path):
    out = tmp_path / "d.csv"
    device = SyntheticDevice(slow_calls=_sample_calls(6, 15))  # samples 6-15 timed 25 % slow
    summary = _record(out, device, **SMALL)
    rows = read_latency_csv(out, space=DEMO.latency_space)
    assert device.calls == CALIBRATION_CALLS + 30 * SAMPLE_CALLS  # nothing re-measured
    assert [r.config for r in rows] == sample_sequence(DEMO.latency_space, 1, 30)
    assert all(r.total_ms == pytest.approx(SyntheticDevice.true_ms(r.config)) for r in rows)  # no slow rows kept
    assert (summary.remeasured_rows, summary.normalized_rows, summary.flagged_rows) == (0, 10, 0)
    assert all(r.drift_flag == 0 and r.timestamp == 1.7e9 for r in rows)
    sidecar = json.loads(sidecar_path(out).read_text())
    assert sidecar["drift_guard"]["normalized_blocks"] == [{"rows": [6, 15], "factor": pytest.approx(1.25)}]
    assert sidecar["drift_guard"]["row_factors"] == pytest.approx([1.0] * 5 + [1.25] * 10 + [1.0] * 15)
    assert not partial_path(out).exists()


def test_drift_guard_normalizes_a_device_that_turns_slower_mid_sample(tmp_path):
    out = tmp_path / "d.csv"
    switch = _sample_calls(11, 11).start + 8  # inside sample 11's third group of runs
    summary = _record(out, SyntheticDevice(slow_calls=range(switch, 10**6)), **SMALL)
    assert summary.flagged_rows == 0 and summary.remeasured_rows == 0 and summary.normalized_rows == 20
    assert _recorded_over_true(out) == pytest.approx([1.0] * 30, rel=0.02)  # sample 11's straddling group too


def test_drift_guard_flags_rows_when_the_device_changes_faster_than_a_group(tmp_path):
    out = tmp_path / "d.csv"
    device = SyntheticDevice(jitter=0.5)  # every run in a state of its own: ±65 % (one σ) from run to run
    summary = _record(out, device, samples=20, max_attempts=2, **SMALL)
    assert [r.drift_flag for r in read_latency_csv(out)] == [1] * 20
    assert summary.flagged_rows == 20 and summary.remeasured_rows == 20
    assert device.calls == CALIBRATION_CALLS + 2 * 20 * SAMPLE_CALLS
    assert json.loads(sidecar_path(out).read_text())["flagged_rows"] == 20


NOISY_VM = {"jitter": 0.03, "bursts": 0.05}  # 3 % jitter on every run, 5 % of runs 1.3-2.5x (a burst)


def test_noise_alone_is_not_drift(tmp_path):
    summary = _record(tmp_path / "d.csv", SyntheticDevice(**NOISY_VM), samples=150)
    assert summary.flagged_rows <= 15  # at most 10 % of the rows
    assert summary.remeasured_rows <= 15
    assert summary.normalized_rows <= 15
    assert statistics.median(_recorded_over_true(tmp_path / "d.csv")) == pytest.approx(1.0, abs=0.02)


def test_a_25_percent_step_in_noise_is_caught(tmp_path):
    out = tmp_path / "d.csv"
    defaults = DriftSettings()  # calibration: 1 + baseline_runs calls; a sample: warm-up, runs, reference runs
    calibration = 1 + defaults.baseline_runs
    per_sample = defaults.warmup + defaults.runs + 1 + math.ceil(defaults.runs / defaults.runs_per_reference)
    device = SyntheticDevice(slow_calls=range(calibration + 40 * per_sample, calibration + 85 * per_sample), **NOISY_VM)
    summary = _record(out, device, samples=150)  # samples 41-85 measured 25 % slow
    rows = read_latency_csv(out, space=DEMO.latency_space)
    kept = [ratio for ratio, row in zip(_recorded_over_true(out), rows) if row.drift_flag == 0]
    assert summary.normalized_rows >= 40  # the stretch was seen and divided out
    factors = json.loads(sidecar_path(out).read_text())["drift_guard"]["row_factors"]
    assert statistics.median(factors[40:85]) == pytest.approx(1.25, rel=0.03)
    assert statistics.median(kept) == pytest.approx(1.0, abs=0.02)
    assert sum(ratio > 1.15 for ratio in kept) <= 0.10 * len(kept)
    assert sum(ratio > 1.15 for ratio in kept[40:85]) <= 4  # the slow stretch's rows are not slow


def test_resume_continues_the_seeded_sequence_after_a_torn_write(tmp_path):
    out = tmp_path / "d.csv"
    _record(out, SyntheticDevice(), samples=12)
    complete = out.read_text().splitlines()
    partial = partial_path(out)
    partial.write_text("\n".join(complete[:6]) + "\n" + complete[6][:25])  # 5 rows + a torn 6th
    out.unlink()
    summary = _record(out, SyntheticDevice(), samples=12)
    assert summary.resumed_rows == 5
    assert out.read_text().splitlines() == complete  # same rows, none duplicated or torn


def test_resume_with_another_seed_is_refused(tmp_path):
    out = tmp_path / "d.csv"
    _record(out, SyntheticDevice(), samples=5)
    os.replace(out, partial_path(out))
    with pytest.raises(HatError, match="row 1 is not sample 1 of this task/seed"):
        _record(out, SyntheticDevice(), samples=5, seed=2)


HAT = [sys.executable, "-c", "import sys; from hat.cli import main; sys.exit(main(sys.argv[1:]))"]


def _hat(*args, **kwargs):
    return subprocess.run([*HAT, *args], cwd=REPO, capture_output=True, text=True, **kwargs)


def test_dataset_cli_resumes_after_sigkill(tmp_path):
    out = tmp_path / "demo.csv"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dict.tgt.txt").write_text("".join(f"t{i} 1\n" for i in range(60)))
    command = [*HAT, "latency", "dataset", "--task", "demo", "--samples", "8", "--data", str(tmp_path / "data"),
               "--seed", "4", "--runs", "2", "--warmup", "0", "--threads", "1", "--runs-per-reference", "1",
               "--tolerance", "10", "--out", str(out), "--no-progress"]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = partial_path(out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not partial.exists() or partial.read_text().count("\n") < 4):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_rows = partial.read_text().count("\n") - 1
    assert 3 <= killed_rows < 8 and not out.exists()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = read_latency_csv(out, space=DEMO.latency_space)
    assert [r.config for r in rows] == sample_sequence(DEMO.latency_space, 4, 8)
    sidecar = json.loads(sidecar_path(out).read_text())
    assert sidecar["resumed_rows"] == killed_rows
    assert sidecar["environment"]["threads"] == 1 and sidecar["beam"] == 5 and sidecar["runs"] == 2
    assert sidecar["vocab_size"] == 64  # the data's dictionary: 60 entries + fairseq's 4 specials


# ---- the torch-only path -------------------------------------------------------------------

BLOCK_FAIRSEQ = """
import sys
class BlockFairseq:
    def find_spec(self, name, path=None, target=None):
        if name == "fairseq" or name.startswith("fairseq."):
            raise ImportError("fairseq is blocked in this test")
sys.meta_path.insert(0, BlockFairseq())
"""


def test_latency_commands_run_without_fairseq(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCK_FAIRSEQ)
    config = tmp_path / "sub.yml"
    write_subconfig(DEMO.latency_space.smallest(), config)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    probe = subprocess.run([sys.executable, "-c", "import fairseq"], env=env, capture_output=True, text=True)
    assert "fairseq is blocked" in probe.stderr  # the blocker works
    result = subprocess.run(
        [*HAT, "latency", "measure", str(config), "--task", "demo", "--vocab-size", "512",
         "--runs", "2", "--warmup", "0", "--threads", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["total_ms"] == pytest.approx(report["encoder_ms"] + report["decoder_ms"])
    assert report["environment"]["device"] == "cpu" and report["runs"] == 2


# ---- HAT's published data ------------------------------------------------------------------


def test_unpublished_pair_lists_what_exists(tmp_path):
    with pytest.raises(HatError, match=r"no latency data for task iwslt14deen on xeon \(available: .*wmt14ende/xeon"):
        published.fetch_published("iwslt14deen", "xeon", tmp_path / "x.csv")


@needs_shared
def test_fetch_published_from_a_local_mirror(tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SHARED_LATENCY))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        out = tmp_path / "rpi.csv"
        published.fetch_published("wmt14ende", "raspberrypi", out, url_base=base)
        assert out.read_bytes() == HAT_CSV.read_bytes()
        mismatch = tmp_path / "wrong.csv"
        original = published.PUBLISHED_SHA256[("wmt14ende", "xeon")]
        published.PUBLISHED_SHA256[("wmt14ende", "xeon")] = "0" * 64
        try:
            with pytest.raises(HatError, match="does not match the pinned"):
                published.fetch_published("wmt14ende", "xeon", mismatch, url_base=base)
        finally:
            published.PUBLISHED_SHA256[("wmt14ende", "xeon")] = original
        assert not mismatch.exists()
    finally:
        server.shutdown()


@needs_shared
def test_pinned_checksums_match_the_shared_copies():
    from hat.io import sha256_file

    for (task, hardware), digest in published.PUBLISHED_SHA256.items():
        assert sha256_file(SHARED_LATENCY / published.published_filename(task, hardware)) == digest


def test_fetch_cli_reports_download_failure(tmp_path):
    result = _hat("latency", "fetch-published", "--task", "wmt14ende", "--hardware", "xeon",
                  "--out", str(tmp_path / "x.csv"), "--url-base", f"file://{tmp_path}/nowhere")  # fmt: skip
    assert result.returncode == 2 and "download failed" in result.stderr
    assert not (tmp_path / "x.csv").exists()
