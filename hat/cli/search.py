"""`hat search`: evolutionary search under a predicted-latency budget (spec §5, docs/search.md)."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    search = subparsers.add_parser(
        "search",
        help="find the lowest-loss SubTransformer within a latency budget",
        description="HAT's evolutionary search; writes SUB.yml, SUB.json, SUB.search_log.csv and SUB.search.png. "
        "--population alone keeps HAT's 1:2:2 split of parents, mutations and crossovers.",
    )
    search.add_argument("--task", required=True, help="task name or task.yml")
    search.add_argument("--supernet", required=True, type=Path, help="SuperTransformer checkpoint")
    search.add_argument("--data", required=True, type=Path, help="binarized data dir (the valid split is used)")
    search.add_argument("--predictor", required=True, type=Path, help="latency predictor file (hat predictor train)")
    budget = search.add_mutually_exclusive_group(required=True)
    budget.add_argument("--latency-budget", type=float, metavar="MS")
    budget.add_argument(
        "--latency-budget-pct",
        type=float,
        metavar="PCT",
        help="budget relative to the predictor's achievable range: 0 = fastest, 100 = slowest SubTransformer",
    )
    search.add_argument("--out", required=True, type=Path, help="SubTransformer YAML to write")
    search.add_argument("--hardware", help="target hardware; must match the predictor's (default: the predictor's)")
    search.add_argument(
        "--confidence", type=float, help="keep the predictor's upper bound at this confidence (e.g. 0.9) under budget"
    )
    search.add_argument("--seed", type=int, default=1)
    search.add_argument("--population", type=int, default=125)
    search.add_argument("--parents", type=int, help="default: population / 5")
    search.add_argument("--mutations", type=int, help="default: half of population - parents")
    search.add_argument("--crossovers", type=int, help="default: the rest of the population")
    search.add_argument("--mutation-prob", type=float, default=0.3)
    search.add_argument("--iterations", type=int, default=30)
    search.add_argument("--valid-max-batches", type=int, help="score on the first N valid batches (default: all)")
    search.add_argument(
        "--measure", choices=("cpu", "cuda", "none"), default="none", help="time the result here (closed loop)"
    )
    search.add_argument(
        "--measure-threads", type=int, help="CPU threads when measuring (match the latency dataset's --threads)"
    )
    search.add_argument(
        "--runtime", choices=("torch", "onnxruntime"), default="torch", help="the runtime the model ships in"
    )
    search.add_argument("--precision", choices=("fp32", "int8"), default="fp32", help="the precision it ships in")
    search.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where candidates are scored")
    search.add_argument("--threads", type=int, help="torch CPU threads of each scorer (demo: 1 is fastest)")
    search.add_argument(
        "--workers", type=int, default=1, metavar="N",
        help="score each generation on N processes (cuda: GPUs 0..N-1), each loading the supernet once; "
        "same result as 1",
    )  # fmt: skip
    search.add_argument("--no-progress", action="store_true", help="no progress bar")
    search.set_defaults(func=_search)


def settings_from_args(args):
    """SearchSettings from the flags; parents/mutations/crossovers follow HAT's 1:2:2 unless given."""
    from hat.search import SearchSettings

    return SearchSettings.for_population(
        args.population,
        parents=args.parents,
        mutations=args.mutations,
        crossovers=args.crossovers,
        mutation_prob=args.mutation_prob,
        iterations=args.iterations,
        seed=args.seed,
    )


def _search(args) -> int:
    from hat.fairseq_plugin.fitness import InheritedLoss
    from hat.search.run import SearchRequest, run_search
    from hat.tasks import load_task

    request = SearchRequest(
        task=load_task(args.task),
        supernet=args.supernet,
        data=args.data,
        predictor=args.predictor,
        budget_ms=args.latency_budget,
        budget_pct=args.latency_budget_pct,
        out=args.out,
        settings=settings_from_args(args),
        hardware=args.hardware,
        valid_max_batches=args.valid_max_batches,
        measure=args.measure,
        measure_threads=args.measure_threads,
        device=args.device,
        threads=args.threads,
        workers=args.workers,
        runtime=args.runtime,
        precision=args.precision,
        confidence=args.confidence,
    )
    run_search(request, InheritedLoss, progress=not args.no_progress)
    return 0
