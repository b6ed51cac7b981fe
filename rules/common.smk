# Helpers shared by the rules: settings lookup, argument formatting, run directories.
# Nothing here runs a job; every rule's work is a `hat` command.

import math
import re
import shlex
from decimal import Decimal
from pathlib import Path

import jsonschema
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from hat.errors import HatError
from hat.io import read_yaml

# The file whose presence says a task's binarized data directory is complete (see data.smk).
DATA_MANIFEST = "results/{task}/data/manifest.json"


def directory_of(name):
    """A params function: the directory holding input `name` (e.g. the data dir of its manifest)."""
    return lambda wildcards, input: str(Path(input[name]).parent)

# TASKS (names under config's tasks) and HARDWARE (config's hardware mapping) are set by the
# Snakefile once the config is valid.


def validate_config(schema):
    """snakemake.utils.validate, its error cut to one line: the key path and what is wrong there.
    First every config file is re-read refusing duplicate keys (Snakemake keeps the last silently)."""
    for path in workflow.configfiles:
        try:
            read_yaml(path)
        except HatError as err:
            raise WorkflowError(f"invalid config: {err}") from None
    try:
        validate(config, str(schema))
    except WorkflowError as err:
        if not isinstance(err.__context__, jsonschema.ValidationError):
            raise
        error = jsonschema.exceptions.best_match([err.__context__])
        key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
        raise WorkflowError(f"invalid config: {key.lstrip('.') or '(top level)'}: {error.message}") from None


def alternatives(names):
    """A regex matching exactly one of `names` (wildcard constraint); none of them: matches nothing."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def settings(task):
    """task_defaults with tasks.<task> laid over it, one level deep (dict sections merge by key)."""
    merged = {key: dict(value) if isinstance(value, dict) else value for key, value in config["task_defaults"].items()}
    for key, value in (config["tasks"][task] or {}).items():
        merged[key] = {**merged[key], **value} if isinstance(value, dict) else value
    return merged


def task_arg(wildcards):
    """What `hat --task` gets: the built-in task of this name, or the entry's task_file."""
    return settings(wildcards.task).get("task_file", wildcards.task)


def stage(task, name):
    """One section of a task's settings (supernet, latency, search, subtransformer)."""
    return settings(task)[name]


def override_args(overrides):
    """`--override KEY=VALUE` for each HAT training key, sorted so the command is stable."""
    return " ".join(f"--override {shlex.quote(f'{key}={value}')}" for key, value in sorted(overrides.items()))


def preprocessed_flag(wildcards):
    """`hat data download/prepare --preprocessed` for a task whose data_source is HAT's bundle."""
    return "--preprocessed" if settings(wildcards.task).get("data_source") == "hat-preprocessed" else ""


def gpus(wildcards):
    """GPU resource of training, search and BLEU jobs: one GPU unless the task runs on the CPU."""
    return 1 if settings(wildcards.task)["device"] == "cuda" else 0


# ---- training on several GPUs / nodes, search on several workers (docs/distributed.md) ----


def world(task, name):
    """(GPUs per node, nodes) of a training stage (supernet, subtransformer); on the CPU, GPUs
    are worker processes on one node."""
    section = stage(task, name)
    return section.get("gpus", 1), section.get("nodes", 1)


def multi_node(task, name):
    return world(task, name)[1] > 1


def training_resources(name):
    """Resources of a training job on the stage's GPUs x nodes. One node: `gpu` (fairseq spawns
    one worker per GPU). Several: the slurm plugin's `nodes`, `gres` gpu:G per node and its MPI
    launcher with `tasks_per_node` G, one srun task per GPU whose SLURM environment fairseq reads.
    A resource that does not apply is None, which Snakemake leaves out of the job."""

    def on_cuda(value):
        return lambda wildcards: value(wildcards) if settings(wildcards.task)["device"] == "cuda" else None

    def per_node(wildcards):
        return world(wildcards.task, name)[0]

    def if_multi(value):
        return lambda wildcards: value(wildcards) if multi_node(wildcards.task, name) else None

    return {
        "gpu": lambda wildcards: None if multi_node(wildcards.task, name) else gpus(wildcards) * per_node(wildcards),
        "nodes": on_cuda(lambda wildcards: world(wildcards.task, name)[1]),
        "gres": on_cuda(if_multi(lambda wildcards: f"gpu:{per_node(wildcards)}")),
        "tasks_per_node": on_cuda(if_multi(per_node)),
        "mpi": on_cuda(if_multi(lambda wildcards: "srun")),
    }


def launcher(name):
    """The command prefix of a training job: `srun ` (one task per GPU) on several nodes."""
    return lambda wildcards: "srun " if multi_node(wildcards.task, name) else ""


def world_args(name):
    """`hat train --gpus G --nodes N`, and the update-freq hat derives from them (hat.world),
    spelled out so that the command shows it; an update-freq override is passed as it is."""

    def args(wildcards):
        from hat.tasks import load_task
        from hat.train import training_settings
        from hat.world import World, scaled_settings

        gpus_per_node, nodes = world(wildcards.task, name)
        overrides = {key: str(value) for key, value in stage(wildcards.task, name)["overrides"].items()}
        task = load_task(task_arg(wildcards))
        defaults = training_settings(task, overrides, subtransformer=name == "subtransformer")
        update_freq = scaled_settings(defaults, overrides, World(gpus_per_node, nodes))["update-freq"]
        pinned = "" if "update-freq" in overrides else f" --override update-freq={update_freq}"
        return f"--gpus {gpus_per_node} --nodes {nodes}{pinned}"

    return args


def worker_threads(name):
    """torch threads of each training worker: the job's threads shared by the workers of a node."""
    return lambda wildcards, threads: max(1, threads // world(wildcards.task, name)[0])


def search_workers(wildcards):
    return stage(wildcards.task, "search").get("workers", 1)


def hardware_source(hw):
    """'measure', 'published' or 'csv': how results/{task}/latency/{hw}.csv is obtained."""
    return next(kind for kind in ("measure", "published", "csv") if kind in HARDWARE[hw])


def measured_device(hw):
    """The device a hardware is measured on where the rule runs, or None for HAT's/user's CSVs."""
    return HARDWARE[hw]["measure"]["device"] if hardware_source(hw) == "measure" else None


def measuring_threads(hw):
    """Threads the measuring job reserves. Timing must not share the machine with other jobs: run
    locally, the job reserves every core (Snakemake caps threads at --cores); on a cluster it asks
    for the hardware's threads, and the hardware's resources place it."""
    threads = HARDWARE[hw]["measure"].get("threads", 1)
    return max(threads, workflow.global_resources["_cores"].value or threads) if workflow.local_exec else threads


def deployment(hw):
    """(runtime, precision) the hardware's model ships in: measured entries may name them
    (docs/runtime.md); HAT's CSVs and user CSVs are eager PyTorch fp32."""
    measure = HARDWARE[hw]["measure"] if hardware_source(hw) == "measure" else {}
    return measure.get("runtime", "torch"), measure.get("precision", "fp32")


def runtime_args(hw):
    """`--runtime R --precision P` of the latency, search and evaluate commands."""
    return "--runtime {} --precision {}".format(*deployment(hw))


def measured_dataset(wildcards):
    """The latency dataset a measured hardware's shipped-model timing is paired with; none elsewhere."""
    return {"latency": f"results/{wildcards.task}/latency/{wildcards.hw}.csv"} if measured_device(wildcards.hw) else {}


def paired_timing_args(wildcards, input):
    """`hat profile --latency-dataset CSV --runtime R --precision P`: time the shipped model in the
    hardware's runtime, paired with its dataset's reference runs (docs/latency.md)."""
    return f"--latency-dataset {input.latency} {runtime_args(wildcards.hw)}" if "latency" in input.keys() else ""


def deployed_model(run):
    """What a run's BLEU is scored on: the ONNX export for onnxruntime hardware, else the checkpoint."""
    runtime, _ = deployment(Path(run).name.split("@")[0])
    return f"{run}/onnx/model.json" if runtime == "onnxruntime" else f"{run}/checkpoint.pt"


def measure_latency_args(wildcards):
    """`hat search|profile --measure-latency D --measure-threads N`: time the result on the device
    and with the threads of the hardware's latency dataset where it is measured here; nothing
    where it is not (HAT's and user CSVs: the sidecar/profile.json then say so)."""
    device = measured_device(wildcards.hw)
    threads = HARDWARE[wildcards.hw]["measure"].get("threads", 1) if device else None
    return f"--measure-latency {device} --measure-threads {threads}" if device else ""


def search_confidence(task, hw):
    """The task's `search.confidence` for this hardware: one value for every hardware, or a mapping
    hardware -> value (a hardware it does not name: None, the prediction itself)."""
    confidence = stage(task, "search")["confidence"]
    return confidence.get(hw) if isinstance(confidence, dict) else confidence


def confidence_arg(wildcards):
    """`hat search --confidence C` where the task sets one for this hardware, else nothing."""
    confidence = search_confidence(wildcards.task, wildcards.hw)
    return "" if confidence is None else f"--confidence {confidence:g}"


def valid_batches_arg(wildcards):
    """`hat search --valid-max-batches N`, or nothing for HAT's full valid split."""
    batches = stage(wildcards.task, "search").get("valid_max_batches")
    return f"--valid-max-batches {batches}" if batches else ""


def format_budget(ms):
    """200 -> '200', 12.5 -> '12.5', 1234567 -> '1234567', 18.00001 -> '18.00001': the number of
    results/{task}/{hw}@{budget}, in plain digits (the wildcard's pattern) and exactly the value
    (the shortest repr that reads back as it), so two budgets never share a run directory."""
    return format(Decimal(repr(float(ms))).normalize(), "f")


# The {budget} of a run directory results/{task}/{hw}@{budget}: an absolute budget `{ms}ms`, or
# `{pct}pct`, a budget relative to the predictor's achievable range (0 fastest, 100 slowest
# SubTransformer of the space) that `hat search` resolves to ms (budgets_pct).
BUDGET_UNITS = {"budgets_ms": "ms", "budgets_pct": "pct"}
BUDGET = r"\d+(\.\d+)?(ms|pct)"


def run_dirs(task):
    """results/{task}/{hw}@{lat}ms for every budget in the task's budgets_ms, then
    results/{task}/{hw}@{pct}pct for every budget in its budgets_pct."""
    return [
        f"results/{task}/{hw}@{format_budget(value)}{unit}"
        for key, unit in BUDGET_UNITS.items()
        for hw, budgets in sorted(settings(task)[key].items())
        for value in budgets
    ]


# Uniformly scaled baselines (rules/baseline.smk, docs/baselines.md)
BASELINE = "results/{task}/baseline-scale{scale}"  # the YAML and its trained checkpoint
BASELINE_RUN = "results/{task}/{hw}/baseline-scale{scale}"  # per hardware: BLEU, profile (hat.report)


def baseline_model(wildcards):
    """What a baseline's BLEU on {hw} is scored on, as for a searched run (deployed_model): the
    hardware's ONNX export for onnxruntime hardware, else the trained checkpoint."""
    if deployment(wildcards.hw)[0] == "onnxruntime":
        return f"{BASELINE_RUN.format(**wildcards)}/onnx/model.json"
    return f"{BASELINE.format(**wildcards)}/checkpoint.pt"


def baseline_dirs(task):
    """results/{task}/{hw}/baseline-scale{pct} (rules/baseline.smk): per hardware of the task's
    budgets, each of its baseline_scales."""
    hardware = sorted({hw for key in BUDGET_UNITS for hw in settings(task)[key]})
    return [BASELINE_RUN.format(task=task, hw=hw, scale=pct) for hw in hardware for pct in settings(task)["baseline_scales"]]


def summary_dirs(task):
    """The runs summary.csv lists: the searched ones, then the baselines."""
    return run_dirs(task) + baseline_dirs(task)


def budget_arg(wildcards):
    """`hat search`'s budget flag for a run's {budget}: --latency-budget MS or --latency-budget-pct PCT."""
    value, unit = re.fullmatch(r"(.+?)(ms|pct)", wildcards.budget).groups()
    return f"--latency-budget {value}" if unit == "ms" else f"--latency-budget-pct {value}"


def default_targets():
    """Per default task: each run's bleu.txt and profile.json, summary.csv and its plot."""
    targets = []
    for task in config["default_tasks"]:
        for run in run_dirs(task):
            targets += [f"{run}/bleu.txt", f"{run}/profile.json"]
        targets += [f"results/{task}/summary.csv", f"results/{task}/bleu_vs_latency.png"]
    return targets


def check_budgets(key, budgets):
    """Budgets the schema lets through: .nan/.inf, and one budget twice (one run directory)."""
    seen = {}
    for index, budget in enumerate(budgets):
        if not math.isfinite(budget):
            raise WorkflowError(f"invalid config: {key}[{index}]: {budget} is not a finite number of ms")
        if format_budget(budget) in seen:
            raise WorkflowError(f"invalid config: {key}[{index}]: {budget} repeats {key}[{seen[format_budget(budget)]}]")
        seen[format_budget(budget)] = index


def check_config_references():
    """Names the schema cannot check: default tasks and budget hardware must be defined."""
    for index, task in enumerate(config["default_tasks"]):
        if task not in config["tasks"]:
            raise WorkflowError(f"invalid config: default_tasks[{index}] '{task}' is not a key of tasks ({', '.join(TASKS)})")
    for task in TASKS:
        for key, hw in ((key, hw) for key in BUDGET_UNITS for hw in settings(task)[key]):
            check_budgets(f"tasks.{task}.{key}.{hw}", settings(task)[key][hw])
            if hw not in HARDWARE:
                raise WorkflowError(
                    f"invalid config: tasks.{task}.{key}.{hw}: unknown hardware (defined: {', '.join(HARDWARE)})"
                )
            if stage(task, "predictor")["method"] == "cost-per-layer" and hardware_source(hw) == "published":
                raise WorkflowError(
                    f"invalid config: tasks.{task}.predictor.method: cost-per-layer needs per-layer configs, "
                    f"which HAT's published CSV for hardware {hw} does not have"
                )
        confidence = stage(task, "search")["confidence"]
        for hw in confidence if isinstance(confidence, dict) else ():
            if hw not in HARDWARE:
                raise WorkflowError(
                    f"invalid config: tasks.{task}.search.confidence.{hw}: unknown hardware (defined: {', '.join(HARDWARE)})"
                )
        for name in ("supernet", "subtransformer"):
            gpus_per_node, nodes = world(task, name)
            if nodes > 1 and settings(task)["device"] == "cpu":
                raise WorkflowError(f"invalid config: tasks.{task}.{name}.nodes: device cpu runs on one node")
            if nodes > 1 and gpus_per_node < 2:
                raise WorkflowError(
                    f"invalid config: tasks.{task}.{name}.gpus: several nodes need >= 2 GPUs per node "
                    "(the slurm plugin's MPI tasks_per_node must exceed 1)"
                )


# HAT's released SuperTransformers (rules/supernet.smk, docs/hat-models.md)


def supernet_source(task):
    """'train', 'published' or 'file': where results/{task}/supernet/checkpoint_best.pt comes from."""
    section = stage(task, "supernet")
    return next((kind for kind in ("published", "file") if kind in section), "train")


def hat_supernet_file(wildcards):
    """The HAT-format file an imported task's supernet comes from (a download, or the user's file)."""
    section = stage(wildcards.task, "supernet")
    return section["file"] if "file" in section else f"resources/hat-models/{section['published']}.pt"
