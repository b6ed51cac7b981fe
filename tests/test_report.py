"""hat.report and `hat report`: profile.json merging, bleu.txt parsing, summary.csv and plot."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sys
from pathlib import Path

import pytest

from hat.cli import main
from hat.errors import HatError
from hat.report import (
    ARCHITECTURE_HEADER,
    SUMMARY_COLUMNS,
    RunSummary,
    architecture_cells,
    merge_profile,
    pareto_front,
    parse_run_name,
    read_architecture,
    read_bleu,
    summarize_run,
)
from hat.space import SubConfig
from hat.tasks import load_task

DEMO_SPACE = load_task("demo").space
PROFILE = {
    "config": "sub.yml",
    "subtransformer": DEMO_SPACE.smallest().to_hat_dict(),
    "task": "demo",
    "params": 1234,
    "flops": 56789,
    "sentence_length": 30,
}
SEARCH = {
    "hardware": "cpu",
    "latency_budget_ms": 12.0,
    "predicted_latency_ms": 10.5,
    "fitness": 5.25,
    "measured": {"device": "cpu", "latency_ms": 11.5},
}
SHIPPED = {"total_ms": 11.0, "runs": 300, "model": "checkpoint.pt", "environment": {"device": "cpu"}}


def timed(measured: float | None) -> dict:
    """`hat profile --checkpoint --measure-latency` output: the shipped model timed at `measured` ms."""
    return {**PROFILE, "latency": {**SHIPPED, "total_ms": measured}} if measured is not None else PROFILE


def make_run(
    root: Path,
    name: str,
    bleu_text: str,
    predicted: float,
    measured: float | None,
    budget_pct: float | None = None,
    resolved_ms: float | None = None,
    config: SubConfig | None = None,
) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "bleu.txt").write_text(bleu_text)
    search = {**SEARCH, "predicted_latency_ms": predicted, "latency_budget_pct": budget_pct}
    if budget_pct is not None:
        search["latency_budget_ms"] = resolved_ms
    profile = timed(measured) if config is None else {**timed(measured), "subtransformer": config.to_hat_dict()}
    (run / "profile.json").write_text(json.dumps(merge_profile(profile, search)))
    return run


def row(hardware: str, latency: float, bleu: float) -> RunSummary:
    return RunSummary(hardware, latency, None, bleu, None, latency, None, None, None, None, f"{hardware}@{latency:g}ms")


def test_merge_profile_reports_the_shipped_model_against_the_budget():
    merged = merge_profile(timed(11.0), SEARCH)
    assert merged["params"] == 1234 and merged["flops"] == 56789
    assert merged["predicted_latency_ms"] == 10.5
    assert merged["measured_latency_ms"] == 11.0 and merged["measured_device"] == "cpu"
    assert merged["measured"]["model"] == "checkpoint.pt" and merged["measured"]["runs"] == 300
    assert merged["search_measured_latency_ms"] == 11.5  # the supernet slice the search timed: kept apart
    assert merged["latency_budget_ms"] == 12.0 and merged["hardware"] == "cpu" and merged["budget_met"] is True
    assert merge_profile(timed(12.5), SEARCH)["budget_met"] is False


def test_merge_profile_on_unmeasurable_hardware_says_so_instead_of_a_number():
    merged = merge_profile(PROFILE, {**SEARCH, "hardware": "titanxp", "measured": None})
    assert merged["measured_latency_ms"] is None and merged["budget_met"] is None
    assert merged["measured"] == "not measurable here: hardware 'titanxp' is not measured on this machine"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("27.31\n", (27.31, None)),
        ("BLEU4 = 27.31, 58.1/33.0/21.1/14.2 (BP=1.000, ratio=1.01)\n", (27.31, None)),
        ("BLEU = 26.5 57.9/32.1/20.3/13.5\nSacreBLEU = 25.9\n", (26.5, 25.9)),
        ("bleu: 27.31\nsacrebleu: 26.90\nsacrebleu_signature: nrefs:1|case:mixed\nbeam: 4\n", (27.31, 26.9)),
    ],
)
def test_read_bleu_formats(tmp_path, text, expected):
    path = tmp_path / "bleu.txt"
    path.write_text(text)
    assert read_bleu(path) == expected


@pytest.mark.parametrize("text", ["", "no score here\n"])
def test_read_bleu_rejects_files_without_a_score(tmp_path, text):
    path = tmp_path / "bleu.txt"
    path.write_text(text)
    with pytest.raises(HatError, match="bleu.txt"):
        read_bleu(path)


def test_parse_run_name():
    assert parse_run_name("results/demo/cpu@12.5ms") == ("cpu", 12.5, "ms")
    assert parse_run_name("results/demo/cpu@50pct") == ("cpu", 50.0, "pct")
    with pytest.raises(HatError, match="not a run directory"):
        parse_run_name("results/demo/supernet")


def test_pareto_front_drops_dominated_runs():
    runs = [row("cpu", 10, 20.0), row("cpu", 12, 19.0), row("cpu", 15, 24.0), row("cpu", 8, 15.0)]
    assert [(r.latency_ms, r.bleu) for r in pareto_front(runs)] == [(8, 15.0), (10, 20.0), (15, 24.0)]


def test_summarize_run_reads_bleu_and_both_latencies(tmp_path):
    run = make_run(tmp_path, "cpu@12ms", "BLEU = 3.5\n", predicted=10.5, measured=11.0)
    summary = summarize_run(run)
    assert (summary.hardware, summary.latency_budget_ms, summary.bleu) == ("cpu", 12.0, 3.5)
    assert (summary.predicted_latency_ms, summary.measured_latency_ms, summary.latency_ms) == (10.5, 11.0, 11.0)
    assert (summary.params, summary.flops) == (1234, 56789)


def test_summarize_relative_run_reads_the_resolved_budget(tmp_path):
    run = make_run(
        tmp_path, "cpu@50pct", "BLEU = 3.5\n", predicted=20.0, measured=21.0, budget_pct=50, resolved_ms=20.5
    )
    summary = summarize_run(run)
    assert (summary.latency_budget_pct, summary.latency_budget_ms, summary.budget_met) == (50.0, 20.5, False)


def test_cli_summary_writes_one_row_per_run_and_a_png(tmp_path):
    runs = [
        make_run(tmp_path, "cpu@8ms", "BLEU = 2.0\n", predicted=7.5, measured=7.9),
        make_run(tmp_path, "titanxp@200ms", "BLEU = 4.0\n", predicted=180.0, measured=None),
    ]
    out, plot = tmp_path / "summary.csv", tmp_path / "bleu_vs_latency.png"
    argv = ["report", "summary", "--task", "demo", "--runs", *map(str, runs), "--out", str(out), "--plot", str(plot)]
    assert main(argv) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [
        (r["hardware"], r["latency_budget_ms"], r["bleu"], r["measured_latency_ms"], r["budget_met"]) for r in rows
    ] == [
        ("cpu", "8.0", "2.0", "7.9", "True"),
        ("titanxp", "200.0", "4.0", "", ""),
    ]
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_summary_shows_runtime_precision_and_size_of_what_was_scored(tmp_path):
    """bleu.txt from `hat evaluate` names its runtime, precision and model size (docs/runtime.md);
    older or foreign bleu.txt files read as eager PyTorch fp32 of unknown size."""
    deployed = "bleu: 2.5\nruntime: onnxruntime\nprecision: int8\nmodel_bytes: 4096\n"
    int8 = make_run(tmp_path, "cpu-ort-int8@8ms", deployed, predicted=7.0, measured=7.2)
    eager = make_run(tmp_path, "cpu@8ms", "BLEU = 2.0\n", predicted=7.5, measured=7.9)
    out, plot = tmp_path / "summary.csv", tmp_path / "bleu_vs_latency.png"
    argv = ["report", "summary", "--task", "demo", "--runs", str(int8), str(eager), "--out", str(out)]
    assert main([*argv, "--plot", str(plot)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["runtime"], r["precision"], r["model_bytes"], r["bleu"]) for r in rows] == [
        ("onnxruntime", "int8", "4096", "2.5"),
        ("torch", "fp32", "", "2.0"),
    ]


def test_cli_summary_names_the_missing_file(tmp_path, capsys):
    run = tmp_path / "cpu@8ms"
    run.mkdir()
    (run / "bleu.txt").write_text("1.0\n")
    argv = ["report", "summary", "--task", "demo", "--runs", str(run), "--out", str(tmp_path / "s.csv")]
    assert main([*argv, "--plot", str(tmp_path / "p.png")]) == 2
    assert f"{run / 'profile.json'}: file not found" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()


def test_cli_profile_reads_hat_profile_json_from_stdin(tmp_path, monkeypatch):
    search, out = tmp_path / "subtransformer.json", tmp_path / "profile.json"
    search.write_text(json.dumps(SEARCH))
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(PROFILE)))
    assert main(["report", "profile", "--search", str(search), "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == merge_profile(PROFILE, SEARCH)


def test_cli_profile_rejects_non_json_stdin(tmp_path, monkeypatch, capsys):
    search, out = tmp_path / "subtransformer.json", tmp_path / "profile.json"
    search.write_text(json.dumps(SEARCH))
    monkeypatch.setattr(sys, "stdin", io.StringIO("Traceback (most recent call last):"))
    assert main(["report", "profile", "--search", str(search), "--out", str(out)]) == 2
    assert "hat: error: stdin: not valid JSON" in capsys.readouterr().err
    assert not out.exists()


def test_summary_says_whether_each_budget_was_met_or_with_what_probability(tmp_path):
    measured_over = summarize_run(make_run(tmp_path, "cpu@12ms", "BLEU = 3.5\n", predicted=10.5, measured=12.5))
    measured_within = summarize_run(make_run(tmp_path / "b", "cpu@12ms", "BLEU = 3.5\n", predicted=10.5, measured=11.5))
    published = make_run(tmp_path, "titanxp@200ms", "BLEU = 20\n", predicted=180.0, measured=None)
    profile = json.loads((published / "profile.json").read_text())
    search = {**SEARCH, "predicted_latency_ms": 180.0, "measured": None, "budget_probability": 0.93}
    (published / "profile.json").write_text(json.dumps(merge_profile(PROFILE, search)))
    assert profile["budget_probability"] is None  # a sidecar without an interval
    estimated = summarize_run(published)
    assert (measured_over.budget_met, measured_within.budget_met, estimated.budget_met) == (False, True, None)
    assert estimated.budget_probability == 0.93 and {"budget_met", "budget_probability"} <= set(SUMMARY_COLUMNS)


def test_architecture_table_shades_what_two_runtimes_chose_differently_under_one_budget(tmp_path):
    """The same 27 ms searched in eager fp32 and in ORT int8 (docs/runtime.md): the table shades
    exactly the dimensions the two chose differently, in both rows; a run under another budget and
    a baseline are listed unshaded."""
    eager = DEMO_SPACE.smallest()
    int8 = dataclasses.replace(
        eager, encoder_embed_dim=DEMO_SPACE.largest().encoder_embed_dim, decoder_arbitrary_ende_attn=(2,)
    )
    runs = [
        make_run(tmp_path, "cpu@27ms", "BLEU = 2.0\n", predicted=26.0, measured=26.5, config=eager),
        make_run(
            tmp_path, "cpu-ort-int8@27ms", "bleu: 2.5\nruntime: onnxruntime\nprecision: int8\n", 19.0, 19.5, config=int8
        ),
        make_run(tmp_path, "cpu@40ms", "BLEU = 3.0\n", predicted=39.0, measured=39.5, config=DEMO_SPACE.largest()),
        make_run(tmp_path / "cpu", "baseline-scale0", "BLEU = 1.0\n", predicted=20.0, measured=20.5, config=int8),
    ]
    rows = [summarize_run(run) for run in runs]
    table, shaded = architecture_cells(rows, [read_architecture(row) for row in rows])
    columns = [ARCHITECTURE_HEADER.index(name) for name in ("encoder embed dim", "decoder arbitrary ende attn")]
    assert shaded == {(row, column) for row in (0, 1) for column in columns}
    assert [table[1][column] for column in columns] == [str(int8.encoder_embed_dim), "2"]
    assert table[1][-3:] == ["onnxruntime int8", "19.5", "2.50"]
    assert len(table[0]) == len(ARCHITECTURE_HEADER)

    out = tmp_path / "architectures.png"
    argv = ["report", "summary", "--task", "demo", "--runs", *map(str, runs), "--out", str(tmp_path / "s.csv")]
    assert main([*argv, "--plot", str(tmp_path / "p.png"), "--architectures", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")


def test_architecture_table_names_a_profile_without_its_subtransformer(tmp_path, capsys):
    run = make_run(tmp_path, "cpu@8ms", "BLEU = 2.0\n", predicted=7.5, measured=7.9)
    profile = json.loads((run / "profile.json").read_text())
    del profile["subtransformer"]
    (run / "profile.json").write_text(json.dumps(profile))
    argv = ["report", "summary", "--task", "demo", "--runs", str(run), "--out", str(tmp_path / "s.csv")]
    assert main([*argv, "--plot", str(tmp_path / "p.png"), "--architectures", str(tmp_path / "a.png")]) == 2
    assert f"{run / 'profile.json'}: no 'subtransformer'" in capsys.readouterr().err
