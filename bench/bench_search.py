"""Benchmark of `hat search` on the demo task (issue #6).

Prints, from one run:
* wall time per generation and per fitness evaluation (goal: <= 0.1 s per evaluation on 2 cores),
* the share of search time spent outside fitness evaluation (rejection sampling, predictor,
  bookkeeping, state files),
* evolution vs random search with the same number of distinct evaluations (paper Fig. 9).

Needs the demo workflow's supernet, data and CPU predictor, e.g.
    snakemake --cores 2 results/demo/predictor/cpu.pt results/demo/supernet/checkpoint_best.pt
    .venv/bin/python bench/bench_search.py
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch

from hat.fairseq_plugin.fitness import InheritedLoss
from hat.predictor import load_predictor
from hat.search import SearchSettings, evolve, predicted_range, random_search
from hat.tasks import load_task


class TimedFitness:
    """Wraps a fitness function; accumulates its wall and process CPU time."""

    def __init__(self, fitness) -> None:
        self.fitness = fitness
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    def __call__(self, configs):
        started, cpu_started = time.perf_counter(), time.process_time()
        losses = self.fitness(configs)
        self.seconds += time.perf_counter() - started
        self.cpu_seconds += time.process_time() - cpu_started
        return losses


def seconds_per_eval(inherited_loss: InheritedLoss, configs: list, threads: int) -> float:
    torch.set_num_threads(threads)
    started = time.perf_counter()
    inherited_loss(configs)
    return (time.perf_counter() - started) / len(configs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--supernet", type=Path, default=Path("results/demo/supernet/checkpoint_best.pt"))
    parser.add_argument("--data", type=Path, default=Path("results/demo/data"))
    parser.add_argument("--predictor", type=Path, default=Path("results/demo/predictor/cpu.pt"))
    parser.add_argument("--budget", type=float, help="ms (default: the middle of the predicted range)")
    parser.add_argument("--population", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--valid-max-batches", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for scoring")
    args = parser.parse_args()

    task = load_task("demo")
    predictor = load_predictor(args.predictor)
    achievable = predicted_range(task.space, predictor.predict_ms)
    budget = args.budget or (achievable.fastest_ms + achievable.slowest_ms) / 2
    settings = SearchSettings.for_population(args.population, iterations=args.iterations, seed=args.seed)

    started = time.perf_counter()
    inherited_loss = InheritedLoss(task, args.supernet, args.data, device="cpu", max_batches=args.valid_max_batches)
    load_seconds = time.perf_counter() - started
    sample = [task.space.sample(random.Random(index)) for index in range(10)]
    inherited_loss(sample[:1])  # warm-up
    by_threads = {threads: seconds_per_eval(inherited_loss, sample, threads) for threads in (1, 2)}

    torch.set_num_threads(args.threads)
    fitness = TimedFitness(inherited_loss)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        state = Path(tmp) / "state.json"
        evolved = evolve(task.space, fitness, predictor.predict_ms, budget, settings, state_path=state)
        search_seconds = time.perf_counter() - started
    evaluations = evolved.evaluations
    _, random_best = random_search(task.space, inherited_loss, predictor.predict_ms, budget, evaluations, args.seed)

    print(
        f"demo search: budget {budget:.3g} ms (predicted range {achievable}), {settings.population} x "
        f"{settings.iterations} generations, {len(inherited_loss.batches)} valid batches, "
        f"supernet+data load {load_seconds:.2f} s, {args.threads} scoring thread(s)"
    )
    print(f"  per generation:         {search_seconds / settings.iterations:.3f} s")
    print(
        f"  per fitness evaluation: {fitness.seconds / evaluations:.4f} s wall, "
        f"{fitness.cpu_seconds / evaluations:.4f} s CPU ({evaluations} distinct configs; goal <= 0.1 s)"
    )
    print(
        f"  scoring threads 1 vs 2: {by_threads[1]:.4f} vs {by_threads[2]:.4f} s/eval "
        f"(ratio 2/1: {by_threads[2] / by_threads[1]:.2f})"
    )
    print(f"  outside fitness:        {100 * (1 - fitness.seconds / search_seconds):.1f} % of search time")
    print(f"  evolution best loss:    {evolved.best_fitness:.4f}  (predicted {evolved.best_predicted_ms:.3g} ms)")
    print(f"  random search best:     {random_best:.4f}  (same {evaluations} evaluations)")
    print(f"  evolution / random:     {evolved.best_fitness / random_best:.4f}  (< 1: evolution wins)")


if __name__ == "__main__":
    main()
