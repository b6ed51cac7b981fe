"""Run summaries for the workflow's report stage: profile.json, summary.csv, BLEU-vs-latency plot.

A *run* is one directory `results/{task}/{hw}@{lat}ms` (docs/workflow.md) holding what the search
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
from hat.io import atomic_path, write_text_atomic

RUN_NAME = re.compile(r"^(?P<hardware>[A-Za-z][A-Za-z0-9_-]*)@(?P<budget>\d+(?:\.\d+)?)ms$")

# bleu.txt: `hat evaluate`'s `bleu: 27.31` / `sacrebleu: 26.90` lines; `BLEU = 27.3`, fairseq's
# `BLEU4 = 27.3, 58.1/...` or a bare number are read too.
_BLEU_LINE = re.compile(r"^\s*BLEU\d*\s*[=:]\s*(?P<score>[-+0-9.eE]+)", re.IGNORECASE)
_SACREBLEU_LINE = re.compile(r"^\s*SacreBLEU\s*[=:]\s*(?P<score>[-+0-9.eE]+)", re.IGNORECASE)


@dataclass(frozen=True)
class RunSummary:
    """One row of summary.csv. Missing measurements are None (an empty CSV cell)."""

    hardware: str
    latency_budget_ms: float
    bleu: float
    sacrebleu: float | None
    predicted_latency_ms: float | None
    measured_latency_ms: float | None
    params: int | None
    flops: int | None
    run: str
    budget_met: bool | None = None  # measured latency within the budget (measured hardware only)
    budget_probability: float | None = None  # the predictor's estimate that the budget is met

    @property
    def latency_ms(self) -> float | None:
        """The latency plotted: measured where the hardware was measurable, else predicted."""
        return self.measured_latency_ms if self.measured_latency_ms is not None else self.predicted_latency_ms


SUMMARY_COLUMNS = tuple(field.name for field in fields(RunSummary))


def parse_run_name(run_dir: str | Path) -> tuple[str, float]:
    """`.../titanxp@200ms` -> ("titanxp", 200.0)."""
    match = RUN_NAME.match(Path(run_dir).name)
    if match is None:
        raise HatError(f"{run_dir}: not a run directory (expected a name like titanxp@200ms)")
    return match["hardware"], float(match["budget"])


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
    lines = path.read_text().splitlines()
    bleu = next((m["score"] for m in map(_BLEU_LINE.match, lines) if m), None)
    sacre = next((m["score"] for m in map(_SACREBLEU_LINE.match, lines) if m), None)
    if bleu is None:
        bleu = lines[0].strip() if lines else ""
        if not bleu:
            raise HatError(f"{path}: no BLEU score (expected a 'BLEU = <score>' line or a number)")
    return _float(bleu, path), None if sacre is None else _float(sacre, path)


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
    return parse_json_object(path.read_text(), str(path))


def merge_profile(profile: dict[str, Any], search: dict[str, Any]) -> dict[str, Any]:
    """profile.json: `hat profile`'s params/FLOPs plus the search sidecar's latencies.

    The sidecar's `measured` block (None unless the search timed its result) gives the measured
    latency; a latency that `hat profile` measured itself (`latency_ms`) takes precedence.
    """
    measured = search.get("measured") or {}
    measured_ms = profile.get("latency_ms", measured.get("latency_ms"))
    return {
        **profile,
        "hardware": search.get("hardware"),
        "latency_budget_ms": search.get("latency_budget_ms"),
        "predicted_latency_ms": search.get("predicted_latency_ms"),
        "measured_latency_ms": measured_ms,
        "measured_device": profile.get("latency_device", measured.get("device")),
        "budget_probability": search.get("budget_probability"),
        "fitness": search.get("fitness"),
    }


def summarize_run(run_dir: str | Path) -> RunSummary:
    """The summary row of one run directory (reads bleu.txt and profile.json)."""
    run_dir = Path(run_dir)
    hardware, budget_ms = parse_run_name(run_dir)
    bleu, sacrebleu = read_bleu(run_dir / "bleu.txt")
    profile = read_json_object(run_dir / "profile.json")
    return RunSummary(
        hardware=hardware,
        latency_budget_ms=budget_ms,
        bleu=bleu,
        sacrebleu=sacrebleu,
        predicted_latency_ms=profile.get("predicted_latency_ms"),
        measured_latency_ms=profile.get("measured_latency_ms"),
        params=profile.get("params"),
        flops=profile.get("flops"),
        run=str(run_dir),
        budget_met=None if profile.get("measured_latency_ms") is None else profile["measured_latency_ms"] <= budget_ms,
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
            ax.annotate(f"{row.latency_budget_ms:g} ms budget", (row.latency_ms, row.bleu), fontsize=7)
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
