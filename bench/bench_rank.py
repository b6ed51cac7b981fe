"""Does the search's fitness rank SubTransformers the way trained BLEU does? (issue 18)

Reads a finished workflow's results/{task}/summary.csv: the searched runs and the uniformly scaled
baselines, all trained with one recipe (docs/baselines.md). Scores each distinct SubTransformer
with `hat inherited-loss` (the search's fitness: validation loss with weights inherited from the
task's SuperTransformer, on the first --max-batches batches or the full valid split) and prints
one row per SubTransformer (loss, BLEU) and Spearman's rank correlation of loss against BLEU
(-1: a lower loss always means a higher BLEU; the search needs it near -1).

    .venv/bin/python bench/bench_rank.py --workdir DIR --task demo [--max-batches N] [--supernet PT]

`--supernet` scores with another SuperTransformer checkpoint than the workflow's (e.g. the same
supernet trained further), the BLEU column staying that of the workflow's trained models.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np


def config_of(run: str) -> str:
    """The SubTransformer YAML of a summary row: a searched run's own, a baseline's task-level one
    (results/T/HW/baseline-X -> results/T/baseline-X)."""
    path = Path(run)
    if path.name.startswith("baseline-"):
        return str(path.parent.parent / path.name / "subtransformer.yml")
    return str(path / "subtransformer.yml")


def inherited_loss(workdir: Path, task: str, config: str, supernet: Path, max_batches: int | None) -> float:
    command = [
        *("hat", "inherited-loss", "--task", task, "--config", config),
        *("--supernet", str(supernet), "--data", f"results/{task}/data"),
    ]
    if max_batches:
        command += ["--max-batches", str(max_batches)]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(result.stderr.strip())
    return float(result.stdout.split()[-1])


def spearman(x: list[float], y: list[float]) -> float:
    """Rank correlation (ties broken by order; enough for a handful of distinct scores)."""
    ranks = [np.argsort(np.argsort(values)) for values in (x, y)]
    return float(np.corrcoef(*ranks)[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("."), help="the workflow's directory")
    parser.add_argument("--task", required=True)
    parser.add_argument("--max-batches", type=int, help="validation batches (default: the full valid split)")
    parser.add_argument("--supernet", type=Path, help="default: results/TASK/supernet/checkpoint_best.pt")
    args = parser.parse_args()
    supernet = (args.supernet or args.workdir / f"results/{args.task}/supernet/checkpoint_best.pt").absolute()
    with open(args.workdir / f"results/{args.task}/summary.csv") as stream:
        rows = list(csv.DictReader(stream))
    bleu = {}  # config -> (run, BLEU); a baseline scored on several hardware keeps its first row
    for row in rows:
        bleu.setdefault(config_of(row["run"]), (row["run"], float(row["bleu"])))
    print("run\tinherited_loss\tbleu")
    losses = []
    for config, (run, score) in bleu.items():
        losses.append(inherited_loss(args.workdir, args.task, config, supernet, args.max_batches))
        print(f"{run}\t{losses[-1]:.4f}\t{score:.2f}")
    scores = [score for _, score in bleu.values()]
    print(f"spearman(inherited loss, BLEU) over {len(scores)} SubTransformers: {spearman(losses, scores):+.3f}")


if __name__ == "__main__":
    main()
