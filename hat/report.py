"""Run summaries for the workflow's report stage: profile.json, summary.csv, BLEU-vs-latency plot.

A *run* is one directory `results/{task}/{hw}@{lat}ms` or, for a budget relative to the
achievable predicted range, `results/{task}/{hw}@{pct}pct` (docs/workflow.md) holding what the search
(`subtransformer.json`, spec §5), the evaluation (`bleu.txt`, spec §6.3) and the profiler
(`profile.json`, spec §7) wrote. Latencies are in milliseconds, BLEU in points (0-100).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from hat.errors import HatError
from hat.io import atomic_path, read_text, write_text_atomic

RUN_NAME = re.compile(r"^(?P<hardware>[A-Za-z][A-Za-z0-9_-]*)@(?P<budget>\d+(?:\.\d+)?)(?P<unit>ms|pct)$")
NOT_MEASURABLE = "not measurable here: hardware '{}' is not measured on this machine"

# bleu.txt: `hat evaluate`'s `bleu: 27.31` / `sacrebleu: 26.90` lines; `BLEU = 27.3`, fairseq's
# `BLEU4 = 27.3, 58.1/...` or a bare number are read too.
_BLEU_LINE = re.compile(r"^\s*BLEU\d*\s*[=:]\s*(?P<score>[-+0-9.eE]+)", re.IGNORECASE)
_SACREBLEU_LINE = re.compile(r"^\s*SacreBLEU\s*[=:]\s*(?P<score>[-+0-9.eE]+)", re.IGNORECASE)


@dataclass(frozen=True)
class RunSummary:
    """One row of summary.csv. Missing measurements are None (an empty CSV cell)."""

    hardware: str
    latency_budget_ms: float
    latency_budget_pct: float | None  # the run's relative budget; latency_budget_ms is what it resolved to
    bleu: float
    sacrebleu: float | None
    predicted_latency_ms: float | None
    measured_latency_ms: float | None  # the shipped checkpoint.pt, timed by `hat profile --checkpoint`
    budget_met: bool | None  # measured <= budget; None where nothing was measured
    params: int | None
    flops: int | None
    run: str
    runtime: str = "torch"  # what the BLEU and latency were measured in (docs/runtime.md)
    precision: str = "fp32"
    model_bytes: int | None = None  # size on disk of what was scored (checkpoint or ONNX graphs)
    budget_probability: float | None = None  # the predictor's estimate that the budget is met (published hardware)

    @property
    def latency_ms(self) -> float | None:
        """The latency plotted: measured where the hardware was measurable, else predicted."""
        return self.measured_latency_ms if self.measured_latency_ms is not None else self.predicted_latency_ms


SUMMARY_COLUMNS = tuple(field.name for field in fields(RunSummary))


def parse_run_name(run_dir: str | Path) -> tuple[str, float, str]:
    """`.../titanxp@200ms` -> ("titanxp", 200.0, "ms"); `.../cpu@50pct` -> ("cpu", 50.0, "pct")."""
    match = RUN_NAME.match(Path(run_dir).name)
    if match is None:
        raise HatError(f"{run_dir}: not a run directory (expected a name like titanxp@200ms or cpu@50pct)")
    return match["hardware"], float(match["budget"]), match["unit"]


def _float(text: str, path: Path) -> float:
    try:
        return float(text)
    except ValueError:
        raise HatError(f"{path}: '{text}' is not a number") from None


def read_bleu(path: str | Path) -> tuple[float, float | None]:
    """(BLEU, SacreBLEU or None) from a bleu.txt written by `hat evaluate`."""
    path = Path(path)
    if not path.is_file():
        raise HatError(f"{path}: file not found")
    lines = read_text(path).splitlines()
    bleu = next((m["score"] for m in map(_BLEU_LINE.match, lines) if m), None)
    sacre = next((m["score"] for m in map(_SACREBLEU_LINE.match, lines) if m), None)
    if bleu is None:
        bleu = lines[0].strip() if lines else ""
        if not bleu:
            raise HatError(f"{path}: no BLEU score (expected a 'BLEU = <score>' line or a number)")
    return _float(bleu, path), None if sacre is None else _float(sacre, path)


def read_deployment(path: str | Path) -> dict[str, Any]:
    """runtime, precision and model_bytes from `hat evaluate`'s bleu.txt (torch/fp32/None when absent)."""
    fields = dict(line.partition(": ")[::2] for line in Path(path).read_text().splitlines())
    size = fields.get("model_bytes")
    return {
        "runtime": fields.get("runtime", "torch"),
        "precision": fields.get("precision", "fp32"),
        "model_bytes": None if size is None else int(_float(size, Path(path))),
    }


def parse_json_object(text: str, source: str) -> dict[str, Any]:
    """A JSON object from `text`; anything else is a HatError naming `source`."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise HatError(f"{source}: not valid JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(value, dict):
        raise HatError(f"{source}: expected a JSON object")
    return value


def read_json_object(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise HatError(f"{path}: file not found")
    return parse_json_object(read_text(path), str(path))


def merge_profile(profile: dict[str, Any], search: dict[str, Any]) -> dict[str, Any]:
    """profile.json: `hat profile`'s params/FLOPs and its timing of the shipped checkpoint (its
    `latency` block, present where the hardware is measurable here), with the search sidecar's
    budget (resolved to ms for a relative one) and predicted latency, and whether the measured
    shipped model met the budget. Without a timing, `measured` says why instead of a number.
    The search's own closed-loop timing (the config in the latency-space supernet) is kept as
    `search_measured_latency_ms`."""
    shipped = profile.get("latency")
    budget_ms = search.get("latency_budget_ms")
    measured_ms = shipped["total_ms"] if shipped else None
    return {
        **{key: value for key, value in profile.items() if key != "latency"},
        "hardware": search.get("hardware"),
        "latency_budget_ms": budget_ms,
        "latency_budget_pct": search.get("latency_budget_pct"),
        "predicted_latency_ms": search.get("predicted_latency_ms"),
        "measured_latency_ms": measured_ms,
        "budget_met": None if measured_ms is None or budget_ms is None else measured_ms <= budget_ms,
        "measured_device": shipped["environment"]["device"] if shipped else None,
        "measured": shipped or NOT_MEASURABLE.format(search.get("hardware")),
        "search_measured_latency_ms": (search.get("measured") or {}).get("latency_ms"),
        "budget_probability": search.get("budget_probability"),
        "fitness": search.get("fitness"),
    }


def summarize_run(run_dir: str | Path) -> RunSummary:
    """The summary row of one run directory (reads bleu.txt and profile.json)."""
    run_dir = Path(run_dir)
    hardware, budget, unit = parse_run_name(run_dir)
    bleu, sacrebleu = read_bleu(run_dir / "bleu.txt")
    profile = read_json_object(run_dir / "profile.json")
    budget_ms = profile.get("latency_budget_ms") if unit == "pct" else budget
    if budget_ms is None:
        raise HatError(f"{run_dir / 'profile.json'}: no latency_budget_ms (the {budget:g} % budget is resolved there)")
    return RunSummary(
        hardware=hardware,
        latency_budget_ms=budget_ms,
        latency_budget_pct=budget if unit == "pct" else None,
        bleu=bleu,
        sacrebleu=sacrebleu,
        predicted_latency_ms=profile.get("predicted_latency_ms"),
        measured_latency_ms=profile.get("measured_latency_ms"),
        budget_met=profile.get("budget_met"),
        params=profile.get("params"),
        flops=profile.get("flops"),
        run=str(run_dir),
        **read_deployment(run_dir / "bleu.txt"),
        budget_probability=profile.get("budget_probability"),
    )


def format_summary_csv(rows: list[RunSummary]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if value is None else value for key, value in asdict(row).items()})
    return buffer.getvalue()


def pareto_front(rows: list[RunSummary]) -> list[RunSummary]:
    """Rows no other row beats on both axes (lower latency and higher BLEU), by rising latency."""
    timed = sorted((row for row in rows if row.latency_ms is not None), key=lambda row: (row.latency_ms, -row.bleu))
    front: list[RunSummary] = []
    for row in timed:
        if not front or row.bleu > front[-1].bleu:
            front.append(row)
    return front


def budget_label(row: RunSummary) -> str:
    """'27 ms budget', or '50 % = 29.1 ms budget' for a relative one."""
    if row.latency_budget_pct is None:
        return f"{row.latency_budget_ms:g} ms budget"
    return f"{row.latency_budget_pct:g} % = {row.latency_budget_ms:.3g} ms budget"


def plot_bleu_vs_latency(rows: list[RunSummary], task: str, path: str | Path) -> None:
    """One colour per hardware: every run as a point, its Pareto front as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for hardware in sorted({row.hardware for row in rows}):
        runs = [row for row in rows if row.hardware == hardware and row.latency_ms is not None]
        front = pareto_front(runs)
        points = ax.scatter([row.latency_ms for row in runs], [row.bleu for row in runs], label=hardware)
        ax.plot([row.latency_ms for row in front], [row.bleu for row in front], color=points.get_facecolor()[0])
        for row in runs:
            ax.annotate(budget_label(row), (row.latency_ms, row.bleu), fontsize=7)
    ax.set(xlabel="latency (ms; measured where available, else predicted)", ylabel="BLEU", title=task)
    if rows:
        ax.legend(title="hardware")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def write_summary(
    run_dirs: list[str | Path], task: str, csv_path: str | Path, plot_path: str | Path
) -> list[RunSummary]:
    """summary.csv (one row per run, in the given order) and the BLEU-vs-latency plot."""
    rows = [summarize_run(run_dir) for run_dir in run_dirs]
    write_text_atomic(csv_path, format_summary_csv(rows))
    plot_bleu_vs_latency(rows, task, plot_path)
    return rows
