"""Benchmark of `hat search --workers N` on the demo task (issue #14): wall time of the same search
(same seed) on 1 worker and on N workers, side by side, their ratio, and whether the results match.

Uses the demo workflow's supernet, data and CPU predictor when they exist
(`snakemake --cores 2 results/demo/predictor/cpu.pt results/demo/supernet/checkpoint_best.pt`);
otherwise the tests' stand-in: the cipher corpus, a random-weight demo supernet and a cost
predictor fitted to synthetic latencies (the search's cost does not depend on how good the
weights are). The wall time includes starting the workers (each loads the supernet and the
validation batches once). On a machine with fewer free cores than workers the ratio shows the
overhead, not the speed-up: say which machine and how loaded it was when quoting a figure.

    .venv/bin/python bench/bench_search_workers.py [--workers 2] [--population 20 --iterations 4]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = {
    "supernet": Path("results/demo/supernet/checkpoint_best.pt"),
    "data": Path("results/demo/data"),
    "predictor": Path("results/demo/predictor/cpu.pt"),
}


def stand_in(root: Path) -> dict[str, Path]:
    """The tests' demo stand-in (tests/test_search_demo.py), built under root."""
    import torch
    from fairseq.data import Dictionary

    sys.path.insert(0, str(REPO / "tests"))  # the fixture builders, not tests
    from fixtures_train import build_binarized_corpus
    from test_search_cli import make_predictor

    from hat.export import save_model
    from hat.supernet import SuperTransformer
    from hat.tasks import load_task

    task = load_task("demo")
    data = build_binarized_corpus(root)
    vocab = len(Dictionary.load(str(data / "dict.src.txt")))
    torch.manual_seed(0)
    save_model(SuperTransformer(task.space, vocab, vocab, padding_idx=1), root / "supernet.pt", space=task.space)
    make_predictor(root / "cpu.pt", "demo")
    return {"supernet": root / "supernet.pt", "data": data, "predictor": root / "cpu.pt"}


def timed_search(inputs: dict[str, Path], out: Path, workers: int, args) -> float:
    from hat.cli import main
    from hat.predictor import load_predictor
    from hat.search import predicted_range
    from hat.tasks import load_task

    achievable = predicted_range(load_task("demo").space, load_predictor(inputs["predictor"]).predict_ms)
    budget = (achievable.fastest_ms + achievable.slowest_ms) / 2
    argv = ["search", "--task", "demo", "--supernet", str(inputs["supernet"]), "--data", str(inputs["data"]),
            "--predictor", str(inputs["predictor"]), "--latency-budget", f"{budget:.6g}", "--out", str(out),
            "--population", str(args.population), "--iterations", str(args.iterations), "--seed", "1",
            "--threads", "1", "--workers", str(workers), "--no-progress"]  # fmt: skip
    started = time.perf_counter()
    assert main(argv) == 0
    return time.perf_counter() - started


def generation_seconds(run_dir: Path) -> float:
    """Wall time spent in the generations (search_log.csv), without loading the supernet/workers."""
    with open(run_dir / "search_log.csv") as log:
        return sum(float(row["seconds"]) for row in csv.DictReader(log))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--population", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        real = all(path.exists() for path in DEMO.values())
        inputs = DEMO if real else stand_in(root)
        serial = timed_search(inputs, root / "serial" / "sub.yml", 1, args)
        parallel = timed_search(inputs, root / "parallel" / "sub.yml", args.workers, args)
        same = (root / "serial" / "sub.yml").read_text() == (root / "parallel" / "sub.yml").read_text()
        serial_generations, parallel_generations = (generation_seconds(root / run) for run in ("serial", "parallel"))
    source = "the demo workflow's results/demo" if real else "the tests' stand-in (cipher corpus, random supernet)"
    print(f"inputs: {source}")
    print(f"search: population {args.population}, {args.iterations} generations, 1 torch thread per worker")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (1 min) at the end")
    print(f"1 worker:  {serial:7.1f} s in all, {serial_generations:7.1f} s in the generations")
    print(f"{args.workers} workers: {parallel:7.1f} s in all, {parallel_generations:7.1f} s in the generations")
    ratio, generations_ratio = parallel / serial, parallel_generations / serial_generations
    print(f"ratio {args.workers}-worker / 1-worker wall time: {ratio:.2f} in all (with the workers' start), "
          f"{generations_ratio:.2f} in the generations; same result: {same}")  # fmt: skip


if __name__ == "__main__":
    main()
