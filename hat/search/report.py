"""The files `hat search` writes (issue #6 req. 5):

* the YAML (`--out`, e.g. subtransformer.yml): HAT's ten keys (hat.space.write_subconfig), written last;
* the sidecar (`--sidecar`, default SUB.json): predicted/measured latency, fitness, #params,
  FLOPs, settings, seed, predictor and supernet identity;
* the log (`--log-csv`, default SUB.search_log.csv): one row per generation (`LOG_COLUMNS`);
* the plot (`--plot`, default SUB.search.png): fitness over generations, and the final
  population's loss vs predicted latency.

The workflow names every file; by hand, the defaults derive from the YAML's stem, so two
searches writing into one directory never share one.

Every file is written atomically; the resume state (`state`, beside the YAML) is removed once all exist.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hat.io import atomic_path, outputs_beside, remove_written, write_text_atomic
from hat.search.evolution import LOG_COLUMNS, GenerationLog, SearchResult
from hat.space import write_subconfig


@dataclass(frozen=True)
class SearchOutputs:
    """Where one search's files go."""

    yaml: Path
    sidecar: Path
    log_csv: Path
    plot: Path

    @classmethod
    def next_to(cls, yaml, **given) -> SearchOutputs:
        """The given paths, and for each one not given the default derived from the YAML's stem."""
        endings = {"sidecar": ".json", "log_csv": ".search_log.csv", "plot": ".search.png"}
        return cls(Path(yaml), **outputs_beside(yaml, endings, given))

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.yaml, self.sidecar, self.log_csv, self.plot)

    @property
    def state(self) -> Path:
        """The resume state, beside the YAML (never an output: removed once the search finished)."""
        return self.yaml.with_suffix(".state.json")


def format_log_csv(log: list[GenerationLog]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LOG_COLUMNS)
    for row in log:
        writer.writerow(dataclasses.astuple(row))
    return buffer.getvalue()


def plot_search(result: SearchResult, budget_ms: float, path: Path) -> None:
    """Left: best/mean fitness per generation. Right: the last population, loss vs predicted ms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (history, population) = plt.subplots(1, 2, figsize=(10, 4))
    generations = [row.generation for row in result.log]
    history.plot(generations, [row.best_fitness for row in result.log], marker="o", label="best")
    history.plot(generations, [row.mean_fitness for row in result.log], marker=".", label="population mean")
    history.set(xlabel="generation", ylabel="validation loss (inherited weights)", title="fitness")
    history.legend()
    population.scatter(result.population_predicted_ms, result.population_fitness, s=12, label="last population")
    population.scatter([result.best_predicted_ms], [result.best_fitness], color="red", marker="*", s=120, label="best")
    population.axvline(budget_ms, color="gray", linestyle="--", label=f"budget {budget_ms:g} ms")
    population.set(xlabel="predicted latency (ms)", ylabel="validation loss", title="last population")
    population.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def write_outputs(outputs: SearchOutputs, result: SearchResult, budget_ms: float, sidecar: dict[str, Any]) -> None:
    """All result files, the YAML last (its existence means the search finished), then drop the state."""
    write_text_atomic(outputs.log_csv, format_log_csv(result.log))
    plot_search(result, budget_ms, outputs.plot)
    write_text_atomic(outputs.sidecar, json.dumps(sidecar, indent=1) + "\n")
    write_subconfig(result.best, outputs.yaml)
    remove_written(outputs.state)
