"""Uniformly scaled baselines (issue 18): DesignSpace.uniform, `hat space baseline`, their place in
the DAG beside the searched runs, and summary.csv / plot / comparison carrying both kinds."""

from __future__ import annotations

import csv
import json

import pytest
from test_predictor import HAT_CSV, needs_shared
from test_report import PROFILE, SHIPPED, make_run
from test_workflow import DRY_RUN_STATS, job_counts, per_rule, snakemake, write_override

from hat.cli import main
from hat.errors import HatError
from hat.predictor import load_predictor
from hat.profile import task_counts
from hat.report import draw_bleu_vs_latency, merge_profile, summarize_run
from hat.space import SubConfig, read_subconfig
from hat.tasks import load_task

BUILT_IN_TASKS = ["demo", "wmt14ende", "wmt14enfr", "wmt19ende", "iwslt14deen"]


def uniform_demo(embed: int, ffn: int, heads: int, decoder_layers: int) -> SubConfig:
    return SubConfig(
        encoder_embed_dim=embed,
        decoder_embed_dim=embed,
        encoder_layer_num=3,
        decoder_layer_num=decoder_layers,
        encoder_ffn_embed_dim=(ffn,) * 3,
        encoder_self_attention_heads=(heads,) * 3,
        decoder_ffn_embed_dim=(ffn,) * decoder_layers,
        decoder_self_attention_heads=(heads,) * decoder_layers,
        decoder_ende_attention_heads=(heads,) * decoder_layers,
        decoder_arbitrary_ende_attn=(-1,) * decoder_layers,
    )


def test_uniform_scales_every_dimension_alike_in_the_demo_space():
    space = load_task("demo").space
    # demo: embed {96, 128}, ffn {128, 256}, heads {2, 4}, encoder layers {3}, decoder layers {1, 2, 3}
    assert space.uniform(0) == uniform_demo(96, 128, 2, 1)
    assert space.uniform(33) == uniform_demo(96, 128, 2, 2)  # 33 % of 1 step rounds down, of 2 steps up
    assert space.uniform(50) == uniform_demo(128, 256, 4, 2)  # halfway rounds up
    assert space.uniform(100) == uniform_demo(128, 256, 4, 3)


@pytest.mark.parametrize("task", BUILT_IN_TASKS)
def test_uniform_extremes_are_the_smallest_and_largest_widths_attending_the_last_encoder_layer(task):
    space = load_task(task).space
    for scale, extreme in ((0, space.smallest(arbitrary=-1)), (100, space.largest(arbitrary=-1))):
        config = space.uniform(scale)
        space.validate(config)
        # smallest()/largest() keep the most encoder layers (HAT); uniform scales them too
        layers = min(space.encoder_layer_num_choice) if scale == 0 else max(space.encoder_layer_num_choice)
        assert config.encoder_layer_num == layers
        assert (config.encoder_embed_dim, config.decoder_embed_dim) == (
            extreme.encoder_embed_dim,
            extreme.decoder_embed_dim,
        )
        assert config.decoder_layer_num == extreme.decoder_layer_num
        assert set(config.encoder_ffn_embed_dim) == set(extreme.encoder_ffn_embed_dim)
        for field in ("decoder_ffn_embed_dim", "decoder_self_attention_heads", "decoder_ende_attention_heads"):
            assert getattr(config, field) == getattr(extreme, field), field
        assert config.decoder_arbitrary_ende_attn == (-1,) * config.decoder_layer_num


@pytest.mark.parametrize("scale", [-1, 101])
def test_uniform_refuses_a_scale_outside_0_to_100(scale):
    with pytest.raises(HatError, match=f"baseline scale must lie in 0..100 \\(%\\), got {scale}"):
        load_task("demo").space.uniform(scale)


@needs_shared
def test_cli_writes_the_yaml_and_the_predicted_latency_in_the_search_sidecars_keys(tmp_path, capsys):
    predictor = tmp_path / "titanxp.pt"
    assert main(["predictor", "train", str(HAT_CSV), "--task", "wmt14enfr", "--hardware", "titanxp",
                 "--out", str(predictor)]) == 0  # fmt: skip
    yml, sidecar = tmp_path / "sub.yml", tmp_path / "predicted_latency.json"
    base = ["space", "baseline", "--task", "wmt14enfr", "--scale", "50"]
    assert main([*base, "--out", str(yml)]) == 0
    task = load_task("wmt14enfr")
    config = read_subconfig(yml)
    assert config == task.space.uniform(50)
    assert main([*base, "--predictor", str(predictor), "--hardware", "titanxp", "--sidecar", str(sidecar)]) == 0
    written = json.loads(sidecar.read_text())
    assert written["predicted_latency_ms"] == pytest.approx(float(load_predictor(predictor).predict_ms([config])[0]))
    assert {key: written[key] for key in ("params", "flops")} == task_counts(config, task)
    assert (written["kind"], written["hardware"], written["latency_budget_ms"]) == ("baseline", "titanxp", None)

    capsys.readouterr()
    wrong = tmp_path / "wrong.json"
    assert main([*base, "--predictor", str(predictor), "--hardware", "xeon", "--sidecar", str(wrong)]) == 2
    assert "predictor is for hardware 'titanxp', the baseline is for 'xeon'" in capsys.readouterr().err
    assert not wrong.exists()
    assert main([*base, "--sidecar", str(wrong)]) == 2
    assert "--sidecar needs --predictor and --hardware" in capsys.readouterr().err


def make_baseline(root, hardware: str, name: str, bleu: float, predicted: float, measured: float | None):
    """results/{task}/{hw}/baseline-{name}: bleu.txt and the profile.json rules/baseline.smk writes."""
    run = root / hardware / f"baseline-{name}"
    run.mkdir(parents=True)
    (run / "bleu.txt").write_text(f"bleu: {bleu}\n")
    sidecar = {"kind": "baseline", "hardware": hardware, "latency_budget_ms": None, "predicted_latency_ms": predicted}
    timed = {**PROFILE, "latency": {**SHIPPED, "total_ms": measured}} if measured is not None else PROFILE
    (run / "profile.json").write_text(json.dumps(merge_profile(timed, sidecar)))
    return run


def test_summary_lists_both_kinds_and_the_gain_over_the_best_baseline_within_each_budget(tmp_path):
    runs = [
        make_run(tmp_path, "cpu@20pct", "bleu: 30.0\n", predicted=11.0, measured=11.5, budget_pct=20, resolved_ms=12),
        make_run(tmp_path, "cpu@50pct", "bleu: 33.0\n", predicted=14.0, measured=15.5, budget_pct=50, resolved_ms=15),
        make_run(tmp_path, "cpu@85pct", "bleu: 36.0\n", predicted=17.0, measured=17.9, budget_pct=85, resolved_ms=18.5),
        make_baseline(tmp_path, "cpu", "scale0", bleu=28.0, predicted=12.0, measured=12.4),
        make_baseline(tmp_path, "cpu", "scale50", bleu=34.5, predicted=15.0, measured=14.6),
        make_baseline(tmp_path, "cpu", "scale100", bleu=37.0, predicted=19.0, measured=19.2),
    ]
    out, plot, comparison = tmp_path / "summary.csv", tmp_path / "front.png", tmp_path / "search_vs_baselines.txt"
    argv = ["report", "summary", "--task", "demo", "--runs", *map(str, runs), "--out", str(out), "--plot", str(plot)]
    assert main([*argv, "--comparison", str(comparison)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["kind"], r["bleu"], r["latency_budget_ms"], r["budget_met"]) for r in rows] == [
        ("searched", "30.0", "12", "True"),
        ("searched", "33.0", "15", "False"),
        ("searched", "36.0", "18.5", "True"),
        ("baseline", "28.0", "", ""),
        ("baseline", "34.5", "", ""),
        ("baseline", "37.0", "", ""),
    ]
    assert [r["measured_latency_ms"] for r in rows[3:]] == ["12.4", "14.6", "19.2"]
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert_drawn_as_two_kinds(runs)
    assert comparison.read_text().splitlines() == [
        "cpu, 20 % = 12 ms budget: searched 30.00 BLEU at 11.5 ms; no baseline meets this budget",
        "cpu, 50 % = 15 ms budget: searched 33.00 BLEU at 15.5 ms (over its budget); "
        "best baseline within it: scale50 34.50 BLEU at 14.6 ms; gain -1.50 BLEU",
        "cpu, 85 % = 18.5 ms budget: searched 36.00 BLEU at 17.9 ms; "
        "best baseline within it: scale50 34.50 BLEU at 14.6 ms; gain +1.50 BLEU",
    ]


def assert_drawn_as_two_kinds(runs) -> None:
    """What the PNG shows: searched runs as dots on a solid front, baselines as dashed squares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    draw_bleu_vs_latency(ax, [summarize_run(run) for run in runs])
    (dots,) = ax.collections
    searched = [[11.5, 30.0], [15.5, 33.0], [17.9, 36.0]]
    assert dots.get_offsets().tolist() == searched
    front, baselines = ax.lines
    assert (front.get_linestyle(), front.get_marker(), front.get_xydata().tolist()) == ("-", "None", searched)
    assert (baselines.get_linestyle(), baselines.get_marker()) == ("--", "s")
    assert baselines.get_xydata().tolist() == [[12.4, 28.0], [14.6, 34.5], [19.2, 37.0]]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [
        "cpu: searched",
        "cpu: uniformly scaled baselines",
    ]
    plt.close(fig)


def test_comparison_without_baselines_of_the_hardware_says_so(tmp_path):
    runs = [
        make_run(tmp_path, "titanxp@200ms", "BLEU = 25.0\n", predicted=180.0, measured=None),
        make_baseline(tmp_path, "cpu", "scale0", bleu=20.0, predicted=5.0, measured=None),
    ]
    comparison = tmp_path / "c.txt"
    argv = ["report", "summary", "--task", "demo", "--runs", *map(str, runs), "--out", str(tmp_path / "s.csv")]
    assert main([*argv, "--plot", str(tmp_path / "p.png"), "--comparison", str(comparison)]) == 0
    assert (
        comparison.read_text()
        == "titanxp, 200 ms budget: searched 25.00 BLEU at 180 ms; no baseline of titanxp in this summary\n"
    )


def run_of(output: str) -> str:
    """'results/T/RUN/file' -> 'T/RUN' (a run's part of its results/ and logs/ paths)."""
    return output.removeprefix("results/").rsplit("/", 1)[0]


PUBLISHED_WMT14ENDE = """\
default_tasks: [wmt14ende]
tasks: {wmt14ende: {supernet: {published: HAT_wmt14ende_super_space0}}}
"""


def test_baselines_of_a_real_task_are_in_its_dag_with_the_searched_runs_recipe(tmp_path):
    """wmt14ende with HAT's released supernet as the default target: per scale one YAML and one
    training, per scale and hardware of the budgets (titanxp, xeon, raspberrypi) a predicted
    latency, a BLEU and a profile; the training and BLEU commands are the searched runs' own."""
    override = write_override(tmp_path, PUBLISHED_WMT14ENDE)
    counts = job_counts(snakemake(tmp_path, "--configfile", str(override), *DRY_RUN_STATS))
    scales, hardware = 3, 3
    assert {rule: counts[rule] for rule in counts if "baseline" in rule} == {
        "baseline_config": scales,
        "train_baseline": scales,
        "baseline_latency": scales * hardware,
        "evaluate_baseline": scales * hardware,
        "profile_baseline": scales * hardware,
    }
    assert counts["train_subtransformer"] == counts["search"] == hardware and counts["summary"] == 1

    result = snakemake(tmp_path, "--configfile", str(override), "--dry-run", "--printshellcmds")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    outputs = per_rule(output, r"^\s+output: (.*)$")
    commands = per_rule(output, r"^Shell command: (.*)$")
    searched, baseline = (run_of(outputs[rule]) for rule in ("train_subtransformer", "train_baseline"))
    assert baseline.startswith("wmt14ende/baseline-scale")
    # the same command but for the paths (results/, logs/): same init, supernet, overrides and world
    assert commands["train_baseline"] == commands["train_subtransformer"].replace(searched, baseline)
    assert "--init scratch --supernet results/wmt14ende/supernet/checkpoint_best.pt" in commands["train_baseline"]
    scored, scored_baseline = (run_of(outputs[rule]) for rule in ("evaluate", "evaluate_baseline"))
    trained = scored_baseline.replace(scored_baseline.split("/")[1] + "/", "", 1)  # T/HW/baseline-X -> T/baseline-X
    expected = commands["evaluate"].replace(f"{scored}/checkpoint.pt", f"{trained}/checkpoint.pt")
    assert commands["evaluate_baseline"] == expected.replace(scored, scored_baseline)
    summary = commands["summary"]
    for hw in ("titanxp", "xeon", "raspberrypi"):
        assert all(f"results/wmt14ende/{hw}/baseline-scale{pct} " in summary for pct in (0, 50, 100)), summary
    assert "--comparison results/wmt14ende/search_vs_baselines.txt" in summary


def test_a_baseline_on_onnxruntime_hardware_is_exported_and_scored_in_that_runtime(tmp_path):
    """As a searched run on cpu-ort-int8 (docs/runtime.md): BLEU of the hardware's int8 export."""
    override = write_override(tmp_path, "tasks: {demo: {budgets_ms: {cpu-ort-int8: [18]}, budgets_pct: {}}}")
    result = snakemake(tmp_path, "--configfile", str(override), "--dry-run", "--printshellcmds")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    commands = [line for line in output.splitlines() if line.startswith("Shell command: hat ")]
    run, trained = "results/demo/cpu-ort-int8/baseline-scale0", "results/demo/baseline-scale0"
    assert any(f"hat export --format onnx --checkpoint {trained}/checkpoint.pt --precision int8 --out {run}/onnx " in c
               for c in commands), commands  # fmt: skip
    assert any(f"hat evaluate --task demo --checkpoint {run}/onnx/model.json " in c for c in commands), commands
