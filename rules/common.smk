# Helpers shared by the rules: settings lookup, argument formatting, run directories.
# Nothing here runs a job; every rule's work is a `hat` command.

import re
import shlex
from pathlib import Path

import jsonschema
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The file whose presence says a task's binarized data directory is complete (see data.smk).
DATA_MANIFEST = "results/{task}/data/manifest.json"


def directory_of(name):
    """A params function: the directory holding input `name` (e.g. the data dir of its manifest)."""
    return lambda wildcards, input: str(Path(input[name]).parent)

# TASKS (names under config's tasks) and HARDWARE (config's hardware mapping) are set by the
# Snakefile once the config is valid.


def validate_config(schema):
    """snakemake.utils.validate, its error cut to one line: the key path and what is wrong there."""
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


def cpu_flag(wildcards):
    return "--cpu" if settings(wildcards.task)["device"] == "cpu" else ""


def gpus(wildcards):
    """GPU resource of training, search and BLEU jobs: one GPU unless the task runs on the CPU."""
    return 1 if settings(wildcards.task)["device"] == "cuda" else 0


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


def measure_arg(wildcards):
    """`hat search --measure`: the device to time the result on where this hardware is measured, else none."""
    return measured_device(wildcards.hw) or "none"


def measure_threads_arg(wildcards):
    """`hat search --measure-threads`: time the result with the threads its latency dataset used."""
    return HARDWARE[wildcards.hw]["measure"].get("threads", 1) if measured_device(wildcards.hw) else 1


def valid_batches_arg(wildcards):
    """`hat search --valid-max-batches N`, or nothing for HAT's full valid split."""
    batches = stage(wildcards.task, "search").get("valid_max_batches")
    return f"--valid-max-batches {batches}" if batches else ""


def format_budget(ms):
    """200 -> '200', 12.5 -> '12.5': the {lat} of results/{task}/{hw}@{lat}ms."""
    return f"{ms:g}"


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


def budget_arg(wildcards):
    """`hat search`'s budget flag for a run's {budget}: --latency-budget MS or --latency-budget-pct PCT."""
    value, unit = re.fullmatch(r"(.+?)(ms|pct)", wildcards.budget).groups()
    return f"--latency-budget {value}" if unit == "ms" else f"--latency-budget-pct {value}"


def profile_latency_args(wildcards):
    """`hat profile` flags that time the shipped checkpoint where the hardware is measurable here
    (with its latency dataset's threads); nothing where it is not (profile.json then says so)."""
    device = measured_device(wildcards.hw)
    return f"--latency {device} --threads {measure_threads_arg(wildcards)}" if device else ""


def default_targets():
    """Per default task: each run's bleu.txt and profile.json, summary.csv and its plot."""
    targets = []
    for task in config["default_tasks"]:
        for run in run_dirs(task):
            targets += [f"{run}/bleu.txt", f"{run}/profile.json"]
        targets += [f"results/{task}/summary.csv", f"results/{task}/bleu_vs_latency.png"]
    return targets


def check_config_references():
    """Names the schema cannot check: default tasks and budget hardware must be defined."""
    for index, task in enumerate(config["default_tasks"]):
        if task not in config["tasks"]:
            raise WorkflowError(f"invalid config: default_tasks[{index}] '{task}' is not a key of tasks ({', '.join(TASKS)})")
    for task in TASKS:
        for key, hw in ((key, hw) for key in BUDGET_UNITS for hw in settings(task)[key]):
            if hw not in HARDWARE:
                raise WorkflowError(
                    f"invalid config: tasks.{task}.{key}.{hw}: unknown hardware (defined: {', '.join(HARDWARE)})"
                )
            if stage(task, "predictor")["method"] == "cost-per-layer" and hardware_source(hw) == "published":
                raise WorkflowError(
                    f"invalid config: tasks.{task}.predictor.method: cost-per-layer needs per-layer configs, "
                    f"which HAT's published CSV for hardware {hw} does not have"
                )
