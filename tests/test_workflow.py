"""The Snakemake workflow (issue #7): DAG shape per task, SLURM placement, lint, config errors,
caching (a rerun is a no-op, a changed setting reruns exactly what depends on it), end to end.

Snakemake runs as a subprocess with `--directory` a temporary folder, so nothing lands in the repo.
The fast tests that execute the DAG put a stand-in `hat` first on PATH: it writes the files each
command promises (docs/architecture.md) and hands `hat report` to the real command.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REAL_TASKS = ["wmt14ende", "wmt14enfr", "wmt19ende", "iwslt14deen"]
FULL_CHAIN = {
    "download": 1,
    "prepare": 1,
    "train_supernet": 1,
    "latency_fetch_published": 1,
    "train_predictor": 1,
    "search": 1,
    "train_subtransformer": 1,
    "evaluate": 1,
}
DRY_RUN_STATS = ("--dry-run", "--quiet=rules")  # the Job stats table, without each job
DEMO_BUDGETS = yaml.safe_load((REPO / "config/config.yaml").read_text())["tasks"]["demo"]["budgets_ms"]["cpu"]
GPU_RULES = {"train_supernet", "search", "train_subtransformer", "evaluate"}


def snakemake(workdir: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path or f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    command = [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)


def job_counts(result: subprocess.CompletedProcess) -> Counter:
    """The 'Job stats' table of a (dry) run as {rule: count}, without the total."""
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return Counter({m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.MULTILINE)})


def job_resources(output: str) -> dict[str, str]:
    """rule name -> its `resources:` line, from a dry run's job listing."""
    resources = {}
    for block in re.split(r"\n(?=rule |localrule )", output):
        name = re.match(r"(?:local)?rule (\w+):", block)
        line = re.search(r"^\s+resources: (.*)$", block, re.MULTILINE)
        if name and line:
            resources[name[1]] = line[1]
    return resources


def write_override(workdir: Path, text: str) -> Path:
    """A --configfile that Snakemake merges over config/config.yaml."""
    path = workdir / "override.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("task", REAL_TASKS)
def test_titanxp_target_lists_the_full_chain_and_nothing_else(tmp_path, task):
    result = snakemake(tmp_path, *DRY_RUN_STATS, f"results/{task}/titanxp@200ms/bleu.txt")
    assert job_counts(result) == FULL_CHAIN


def test_default_target_is_the_demo_on_the_local_cpu(tmp_path):
    counts = job_counts(snakemake(tmp_path, *DRY_RUN_STATS))
    budgets = len(DEMO_BUDGETS)
    assert counts == {
        "download": 1,
        "prepare": 1,
        "train_supernet": 1,
        "latency_measure_cpu": 1,
        "train_predictor": 1,
        "search": budgets,
        "train_subtransformer": budgets,
        "evaluate": budgets,
        "profile": budgets,
        "summary": 1,
        "all": 1,
    }


def test_slurm_dry_run_places_gpu_rules_on_gpus(tmp_path):
    targets = ["results/wmt14ende/titanxp@200ms/bleu.txt", "results/wmt14ende/titanxp@200ms/profile.json"]
    args = ["--executor", "slurm", "--jobs", "4", "--profile", str(REPO / "profiles/slurm"), "--dry-run", *targets]
    result = snakemake(tmp_path, *args)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    resources = job_resources(output)
    assert GPU_RULES <= set(resources)
    for rule, line in resources.items():
        assert ("gpu=1" in line.split(", ")) == (rule in GPU_RULES), f"{rule}: {line}"
        assert "slurm_account=YOUR_ACCOUNT" in line and "runtime=" in line


def test_demo_gpu_rules_ask_for_no_gpu(tmp_path):
    result = snakemake(tmp_path, "--dry-run", f"results/demo/cpu@{DEMO_BUDGETS[0]:g}ms/bleu.txt")
    for rule in GPU_RULES:
        assert "gpu=0" in job_resources(result.stdout + result.stderr)[rule].split(", ")


def test_lint_is_clean(tmp_path):
    result = snakemake(tmp_path, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "tasks: {demo: {budgets_ms: {cpu: [8, fast]}}}",
            "invalid config: tasks.demo.budgets_ms.cpu[1]: 'fast' is not of type 'number'",
        ),
        (
            "hardware: {cpu: {measure: {device: gpu}}}",
            "invalid config: hardware.cpu.measure.device: 'gpu' is not one of ['cpu', 'cuda']",
        ),
        ("tasks: {demo: {threads: two}}", "invalid config: tasks.demo.threads: 'two' is not of type 'integer'"),
        ("tasks: {demo: {serach: {}}}", "invalid config: tasks.demo: Additional properties are not allowed"),
        (
            "tasks: {demo: {budgets_ms: {tpu: [5]}}}",
            "invalid config: tasks.demo.budgets_ms.tpu: unknown hardware "
            "(defined: titanxp, xeon, raspberrypi, cpu, cpu-ort-int8)",
        ),
        ("default_tasks: [wmt14ende, mt]", "invalid config: default_tasks[1] 'mt' is not a key of tasks"),
        (
            "task_defaults: {predictor: {method: cost-per-layer}}",
            "invalid config: tasks.wmt14ende.predictor.method: cost-per-layer needs per-layer configs, "
            "which HAT's published CSV for hardware titanxp does not have",
        ),
    ],
)
def test_config_errors_name_the_key_before_any_job_runs(tmp_path, override, message):
    result = snakemake(tmp_path, "--cores", "1", "--configfile", str(write_override(tmp_path, override)))
    assert result.returncode == 1
    assert message in result.stderr
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()


def test_user_csv_hardware_is_copied_into_the_dag(tmp_path):
    measured = tmp_path / "phone.csv"
    measured.write_text("encoder_embed_dim\n")
    override = write_override(tmp_path, f"hardware: {{phone: {{csv: {measured}}}}}")
    result = snakemake(tmp_path, "--configfile", str(override), *DRY_RUN_STATS, "results/demo/predictor/phone.pt")
    assert job_counts(result) == {"latency_user_csv": 1, "train_predictor": 1}


def test_runtime_hardware_measures_searches_exports_and_scores_in_its_runtime(tmp_path):
    """cpu-ort-int8 (docs/runtime.md): every step that times or runs the model does so in ORT int8."""
    target = "results/demo/cpu-ort-int8@18ms/bleu.txt"
    result = snakemake(tmp_path, "--dry-run", "--printshellcmds", target)
    output = result.stdout + result.stderr
    assert job_counts(result)["export_onnx"] == 1, output
    def command(start):
        return next(line for line in output.splitlines() if start in line)

    for step in ("hat latency dataset", "hat search --task"):
        assert "--runtime onnxruntime --precision int8" in command(step)
    assert "--checkpoint results/demo/cpu-ort-int8@18ms/checkpoint.pt --precision int8" in command("hat export")
    assert "--checkpoint results/demo/cpu-ort-int8@18ms/onnx/model.json" in command("hat evaluate")


# A stand-in `hat`: each command writes the files it promises, so the DAG's caching can be tested
# in seconds. `hat report` is the real one (it reads what the stand-in wrote).
FAKE_HAT = """\
#!{python}
import json, pathlib, subprocess, sys
argv = sys.argv[1:]
if argv[0] == "report":
    sys.exit(subprocess.call([{real_hat!r}, *argv]))
def opt(name):
    return pathlib.Path(argv[argv.index(name) + 1])
def touch(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
command = " ".join(argv[:2])
if command in ("data download", "data prepare"):
    touch(opt("--out-dir") / "manifest.json")
elif command == "train supernet":
    touch(opt("--save-dir") / "checkpoint_best.pt")
elif command in ("latency dataset", "latency fetch-published", "train subtransformer"):
    touch(opt("--out"))
elif command == "predictor train":
    out = opt("--out")
    for suffix in (".pt", ".metrics.json", ".predictions.csv", ".png"):
        touch(out.with_suffix(suffix))
elif argv[0] == "search":
    out, budget = opt("--out"), float(argv[argv.index("--latency-budget") + 1])
    touch(out)
    touch(out.with_suffix(".json"), json.dumps({{"hardware": "cpu", "latency_budget_ms": budget,
          "predicted_latency_ms": budget * 0.9, "measured": None}}))
    touch(out.with_suffix(".search_log.csv"))
    touch(out.with_suffix(".search.png"))
elif argv[0] == "evaluate":
    touch(opt("--out"), "BLEU = 1.5\\n")
elif argv[0] == "profile":
    print(json.dumps({{"params": 10, "flops": 20}}))
else:
    sys.exit("fake hat: unexpected command " + " ".join(argv))
"""


@pytest.fixture
def fake_hat_path(tmp_path) -> str:
    fake_bin = tmp_path / "fake_bin"
    fake_bin.mkdir()
    hat = fake_bin / "hat"
    hat.write_text(FAKE_HAT.format(python=sys.executable, real_hat=str(BIN / "hat")))
    hat.chmod(0o755)
    return f"{fake_bin}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}"


def test_rerun_is_a_no_op_a_search_setting_reruns_only_search_and_what_follows_and_the_report_renders(
    tmp_path, fake_hat_path
):
    workdir = tmp_path / "work"
    first = snakemake(workdir, "--cores", "2", path=fake_hat_path)
    assert first.returncode == 0, first.stderr
    summary = list(csv.DictReader((workdir / "results/demo/summary.csv").open()))
    assert [(row["hardware"], float(row["latency_budget_ms"]), row["bleu"]) for row in summary] == [
        ("cpu", budget, "1.5") for budget in DEMO_BUDGETS
    ]

    rerun = snakemake(workdir, "--cores", "2", "--dry-run", path=fake_hat_path)
    assert rerun.returncode == 0 and "Nothing to be done" in rerun.stdout + rerun.stderr

    override = write_override(tmp_path, "tasks: {demo: {search: {iterations: 3}}}")
    changed = snakemake(workdir, "--configfile", str(override), *DRY_RUN_STATS, path=fake_hat_path)
    assert job_counts(changed) == {
        "search": 2,
        "train_subtransformer": 2,
        "evaluate": 2,
        "profile": 2,
        "summary": 1,
        "all": 1,
    }

    override = write_override(tmp_path, "tasks: {demo: {subtransformer: {init: scratch}}}")
    changed = snakemake(workdir, "--configfile", str(override), *DRY_RUN_STATS, path=fake_hat_path)
    assert job_counts(changed) == {"train_subtransformer": 2, "evaluate": 2, "summary": 1, "all": 1}

    # docs/workflow.md's recovery after a failed training (Snakemake deleted checkpoint.pt and then
    # sees nothing to do, the old bleu.txt still in place): --forcerun the missing file.
    checkpoint = f"results/demo/cpu@{DEMO_BUDGETS[0]:g}ms/checkpoint.pt"
    (workdir / checkpoint).unlink()
    recovery = snakemake(workdir, "--forcerun", checkpoint, *DRY_RUN_STATS, path=fake_hat_path)
    assert job_counts(recovery) == {"train_subtransformer": 1, "evaluate": 1, "summary": 1, "all": 1}

    report = snakemake(workdir, "--report", "report.html", path=fake_hat_path)
    assert report.returncode == 0, report.stderr
    assert "bleu_vs_latency.png" in (workdir / "report.html").read_text()


@pytest.mark.slow
def test_default_demo_target_end_to_end(tmp_path):
    """The README's main command from a clean state; then a rerun is a no-op, a changed search
    setting reruns only search and what follows, and the HTML report renders."""
    first = snakemake(tmp_path, "--cores", "2")
    assert first.returncode == 0, first.stderr[-5000:]
    runs = [tmp_path / f"results/demo/cpu@{budget:g}ms" for budget in DEMO_BUDGETS]
    for run in runs:
        for name in ("subtransformer.yml", "checkpoint.pt", "bleu.txt", "profile.json", "subtransformer.search.png"):
            assert (run / name).is_file(), run / name
    summary = list(csv.DictReader((tmp_path / "results/demo/summary.csv").open()))
    assert [row["run"] for row in summary] == [f"results/demo/{run.name}" for run in runs]
    # The demo's searched SubTransformers translate well (issue: BLEU >= 50 within the demo budget).
    assert all(float(row["bleu"]) >= 50 and float(row["params"]) > 0 for row in summary), summary
    assert (tmp_path / "results/demo/bleu_vs_latency.png").read_bytes().startswith(b"\x89PNG")

    rerun = snakemake(tmp_path, "--cores", "2", "--dry-run")
    assert rerun.returncode == 0 and "Nothing to be done" in rerun.stdout + rerun.stderr

    override = write_override(tmp_path, "tasks: {demo: {search: {iterations: 3}}}")
    changed = snakemake(tmp_path, "--configfile", str(override), *DRY_RUN_STATS)
    assert set(job_counts(changed)) == {"search", "train_subtransformer", "evaluate", "profile", "summary", "all"}

    report = snakemake(tmp_path, "--report", "report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    assert (tmp_path / "report.html").stat().st_size > 10_000
