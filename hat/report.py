"""Run summaries for the workflow's report stage: profile.json, summary.csv, BLEU-vs-latency plot,
and the table of the searched architectures.

A *run* is one directory `results/{task}/{hw}@{lat}ms` or, for a budget relative to the
achievable predicted range, `results/{task}/{hw}@{pct}pct` (docs/workflow.md) holding what the search
(`subtransformer.json`, spec §5), the evaluation (`bleu.txt`, spec §6.3) and the profiler
(`profile.json`, spec §7) wrote. A *baseline* run `results/{task}/{hw}/baseline-{name}` holds
the same bleu.txt and profile.json for a uniformly scaled SubTransformer (`hat.baseline`,
docs/baselines.md); summary.csv's `kind` column tells the two apart. Latencies are in
milliseconds, BLEU in points (0-100).
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
from hat.space import DIMENSIONS, SubConfig

RUN_NAME = re.compile(r"^(?P<hardware>[A-Za-z][A-Za-z0-9_-]*)@(?P<budget>\d+(?:\.\d+)?)(?P<unit>ms|pct)$")
BASELINE_RUN_NAME = re.compile(r"^baseline-(?P<name>[A-Za-z0-9_.-]+)$")  # inside results/{task}/{hw}/
NOT_MEASURABLE = "not measurable here: hardware '{}' is not measured on this machine"

# bleu.txt: `hat evaluate`'s `bleu: 27.31` / `sacrebleu: 26.90` lines; `BLEU = 27.3`, fairseq's
# `BLEU4 = 27.3, 58.1/...` or a bare number are read too.
_BLEU_LINE = re.compile(r"^\s*BLEU\d*\s*[=:]\s*(?P<score>[-+0-9.eE]+)", re.IGNORECASE)
_SACREBLEU_LINE = re.compile(r"^\s*SacreBLEU\s*[=:]\s*(?P<score>[-+0-9.eE]+)", re.IGNORECASE)


@dataclass(frozen=True)
class RunSummary:
    """One row of summary.csv. Missing measurements are None (an empty CSV cell)."""

    hardware: str
    latency_budget_ms: float | None  # None for a baseline
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
    kind: str = "searched"  # or "baseline": a uniformly scaled SubTransformer (hat.baseline)

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


def run_budget(run_dir: Path, profile: dict[str, Any]) -> dict[str, Any]:
    """A run's hardware, kind and budget fields of RunSummary, from its directory's name (and
    profile.json, where a relative budget is resolved to ms). A baseline has no budget."""
    if BASELINE_RUN_NAME.match(run_dir.name):
        none = dict.fromkeys(("latency_budget_ms", "latency_budget_pct", "budget_met"))
        return {"hardware": run_dir.parent.name, "kind": "baseline", **none}
    hardware, budget, unit = parse_run_name(run_dir)
    budget_ms = profile.get("latency_budget_ms") if unit == "pct" else budget
    if budget_ms is None:
        raise HatError(f"{run_dir / 'profile.json'}: no latency_budget_ms (the {budget:g} % budget is resolved there)")
    return {
        "hardware": hardware,
        "kind": "searched",
        "latency_budget_ms": budget_ms,
        "latency_budget_pct": budget if unit == "pct" else None,
        "budget_met": profile.get("budget_met"),
    }


def summarize_run(run_dir: str | Path) -> RunSummary:
    """The summary row of one run directory, searched or baseline (reads bleu.txt and profile.json)."""
    run_dir = Path(run_dir)
    bleu, sacrebleu = read_bleu(run_dir / "bleu.txt")
    profile = read_json_object(run_dir / "profile.json")
    return RunSummary(
        **run_budget(run_dir, profile),
        bleu=bleu,
        sacrebleu=sacrebleu,
        predicted_latency_ms=profile.get("predicted_latency_ms"),
        measured_latency_ms=profile.get("measured_latency_ms"),
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


def compare_with_baselines(rows: list[RunSummary]) -> list[str]:
    """One line per searched run: its BLEU gain over the best baseline of the same hardware whose
    latency (measured where available, else predicted, as plotted) meets the run's budget, or
    that none does."""
    lines = []
    searched = sorted(
        (row for row in rows if row.kind == "searched"), key=lambda row: (row.hardware, row.latency_budget_ms)
    )
    for run in searched:
        baselines = [row for row in rows if row.kind == "baseline" and row.hardware == run.hardware]
        meeting = [row for row in baselines if row.latency_ms is not None and row.latency_ms <= run.latency_budget_ms]
        over = " (over its budget)" if run.budget_met is False else ""
        head = f"{run.hardware}, {budget_label(run)}: searched {run.bleu:.2f} BLEU{_at(run)}{over}"
        if not baselines:
            lines.append(f"{head}; no baseline of {run.hardware} in this summary")
        elif not meeting:
            lines.append(f"{head}; no baseline meets this budget")
        else:
            best = max(meeting, key=lambda row: row.bleu)
            lines.append(
                f"{head}; best baseline within it: {baseline_name(best)} {best.bleu:.2f} BLEU{_at(best)}; "
                f"gain {run.bleu - best.bleu:+.2f} BLEU"
            )
    return lines


def baseline_name(row: RunSummary) -> str:
    """'scale50' for results/{task}/{hw}/baseline-scale50."""
    return Path(row.run).name.removeprefix("baseline-")


def _at(row: RunSummary) -> str:
    return "" if row.latency_ms is None else f" at {row.latency_ms:.3g} ms"


def draw_bleu_vs_latency(ax, rows: list[RunSummary]) -> None:
    """On matplotlib axes `ax`, one colour per hardware: searched runs as dots with their Pareto
    front as a solid line, uniformly scaled baselines as open squares joined by a dashed line."""
    for hardware in sorted({row.hardware for row in rows}):
        timed = [row for row in rows if row.hardware == hardware and row.latency_ms is not None]
        runs = [row for row in timed if row.kind == "searched"]
        baselines = sorted((row for row in timed if row.kind == "baseline"), key=lambda row: row.latency_ms)
        front = pareto_front(runs)
        points = ax.scatter([row.latency_ms for row in runs], [row.bleu for row in runs], label=f"{hardware}: searched")
        color = points.get_facecolor()[0]
        ax.plot([row.latency_ms for row in front], [row.bleu for row in front], color=color)
        for row in runs:
            ax.annotate(budget_label(row), (row.latency_ms, row.bleu), fontsize=7)
        if baselines:
            ax.plot(
                [row.latency_ms for row in baselines],
                [row.bleu for row in baselines],
                linestyle="--",
                marker="s",
                markerfacecolor="none",
                color=color,
                label=f"{hardware}: uniformly scaled baselines",
            )
            for row in baselines:
                ax.annotate(baseline_name(row), (row.latency_ms, row.bleu), fontsize=7)
    ax.set(xlabel="latency (ms; measured where available, else predicted)", ylabel="BLEU")
    if rows:
        ax.legend(fontsize=8)


def plot_bleu_vs_latency(rows: list[RunSummary], task: str, path: str | Path) -> None:
    """The PNG of `draw_bleu_vs_latency`, titled `task`; under the axes, the search's gain over
    the baselines per budget (`compare_with_baselines`) where there are baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comparison = compare_with_baselines(rows) if any(row.kind == "baseline" for row in rows) else []
    text_inches = 0.15 * len(comparison) + 0.1 if comparison else 0.0
    width = max([6.0] + [0.065 * len(line) + 0.3 for line in comparison])  # 6-point monospace: ~0.06 in a character
    fig, ax = plt.subplots(figsize=(width, 4 + text_inches))
    draw_bleu_vs_latency(ax, rows)
    ax.set_title(task)
    if comparison:
        fig.text(0.01, 0.01, "\n".join(comparison), fontsize=6, family="monospace", va="bottom")
    fig.tight_layout(rect=(0, text_inches / (4 + text_inches), 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def run_label(row: RunSummary) -> str:
    """'cpu @ 50 % = 29.1 ms budget' for a searched run, 'cpu baseline scale50' for a baseline."""
    if row.kind == "baseline":
        return f"{row.hardware} baseline {baseline_name(row)}"
    return f"{row.hardware} @ {budget_label(row)}"


def read_architecture(row: RunSummary) -> SubConfig:
    """The SubTransformer a run shipped, as `hat profile` recorded it in the run's profile.json."""
    path = Path(row.run) / "profile.json"
    recorded = read_json_object(path).get("subtransformer")
    if recorded is None:
        raise HatError(f"{path}: no 'subtransformer' (written by an older `hat profile`: rerun its profile rule)")
    return SubConfig.from_hat_dict(recorded, source=f"{path}: subtransformer")


def _same_budget(row: RunSummary) -> tuple[str, float | None]:
    """Runs compared with each other in the architecture table: one relative or absolute budget."""
    return ("pct", row.latency_budget_pct) if row.latency_budget_pct is not None else ("ms", row.latency_budget_ms)


def architecture_cells(
    rows: list[RunSummary], configs: list[SubConfig]
) -> tuple[list[list[str]], set[tuple[int, int]]]:
    """The architecture table: per run, its ten dimensions (per-layer values joined by '/') and its
    runtime, latency and BLEU; and the (row, column) cells where a searched run's dimension
    differs from another searched run's under the same budget (e.g. eager fp32 vs ORT int8)."""
    table = [
        [
            *(
                "/".join(map(str, value)) if isinstance(value, tuple) else str(value)
                for value in (getattr(config, dim.field) for dim in DIMENSIONS)
            ),
            f"{row.runtime} {row.precision}",
            "" if row.latency_ms is None else f"{row.latency_ms:.3g}",
            f"{row.bleu:.2f}",
        ]
        for row, config in zip(rows, configs)
    ]
    differing = set()
    for i, row in enumerate(rows):
        for j, other in enumerate(rows):
            if i != j and row.kind == other.kind == "searched" and _same_budget(row) == _same_budget(other):
                differing |= {(i, column) for column in range(len(DIMENSIONS)) if table[i][column] != table[j][column]}
    return table, differing


ARCHITECTURE_HEADER = (*(dim.field.replace("_", " ") for dim in DIMENSIONS), "runtime", "latency ms", "BLEU")


def plot_architectures(rows: list[RunSummary], task: str, path: str | Path) -> None:
    """A PNG table of every run's SubTransformer (searched runs, then baselines), cells shaded where
    searched runs under the same budget chose differently (`architecture_cells`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table, differing = architecture_cells(rows, [read_architecture(row) for row in rows])
    fig, ax = plt.subplots(figsize=(16, 1.0 + 0.3 * (len(rows) + 1)))
    ax.axis("off")
    ax.set_title(
        f"{task}: SubTransformers (shaded: differs from another searched run under the same budget)", fontsize=9
    )
    if rows:
        shading = [
            ["#ffd8a8" if (i, j) in differing else "white" for j in range(len(ARCHITECTURE_HEADER))]
            for i in range(len(rows))
        ]
        drawn = ax.table(
            cellText=table,
            cellColours=shading,
            rowLabels=[run_label(row) for row in rows],
            colLabels=[header.replace(" ", "\n", 1) for header in ARCHITECTURE_HEADER],
            loc="center",
        )
        drawn.auto_set_font_size(False)
        drawn.set_fontsize(7)
        drawn.scale(1, 1.6)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def write_summary(
    run_dirs: list[str | Path],
    task: str,
    csv_path: str | Path,
    plot_path: str | Path,
    comparison_path: str | Path | None = None,
    architectures_path: str | Path | None = None,
) -> list[RunSummary]:
    """summary.csv (one row per run, in the given order), the BLEU-vs-latency plot and, if asked,
    the text file of `compare_with_baselines` lines (one per searched run) and the architecture
    table (`plot_architectures`)."""
    rows = [summarize_run(run_dir) for run_dir in run_dirs]
    write_text_atomic(csv_path, format_summary_csv(rows))
    plot_bleu_vs_latency(rows, task, plot_path)
    if comparison_path is not None:
        write_text_atomic(comparison_path, "".join(line + "\n" for line in compare_with_baselines(rows)))
    if architectures_path is not None:
        plot_architectures(rows, task, architectures_path)
    return rows
