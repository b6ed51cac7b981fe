"""`hat search`: evolutionary search under a predicted-latency budget (spec §5, docs/search.md)."""

from __future__ import annotations

from pathlib import Path

from hat.cli.devices import add_device, add_measure_latency


def register(subparsers) -> None:
    search = subparsers.add_parser(
        "search",
        help="find the lowest-loss SubTransformer within a latency budget",
        description="HAT's evolutionary search; writes the YAML (--out), its sidecar JSON, the per-generation log "
        "CSV and the search plot (defaults: SUB.json, SUB.search_log.csv, SUB.search.png beside SUB.yml). "
        "--population alone keeps HAT's 1:2:2 split of parents, mutations and crossovers.",
    )
    from hat.search import SearchSettings  # torch-free: the pure core
    from hat.search.run import SearchRequest  # torch-free at import

    defaults = SearchSettings()
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
    search.add_argument("--out", required=True, type=Path, help="SubTransformer YAML to write (SUB.yml)")
    search.add_argument("--sidecar", type=Path, help="result JSON (default: SUB.json)")
    search.add_argument("--log-csv", type=Path, help="one row per generation (default: SUB.search_log.csv)")
    search.add_argument("--plot", type=Path, help="search curves PNG (default: SUB.search.png)")
    search.add_argument("--hardware", help="target hardware; must match the predictor's (default: the predictor's)")
    search.add_argument(
        "--confidence", type=float, help="keep the predictor's upper bound at this confidence (e.g. 0.9) under budget"
    )
    search.add_argument("--seed", type=int, default=defaults.seed)
    search.add_argument("--population", type=int, default=defaults.population)
    search.add_argument("--parents", type=int, help="default: population / 5")
    search.add_argument("--mutations", type=int, help="default: half of population - parents")
    search.add_argument("--crossovers", type=int, help="default: the rest of the population")
    search.add_argument("--mutation-prob", type=float, default=defaults.mutation_prob)
    search.add_argument("--iterations", type=int, default=defaults.iterations)
    search.add_argument("--valid-max-batches", type=int, help="score on the first N valid batches (default: all)")
    add_measure_latency(search, "the found SubTransformer")
    search.add_argument(
        "--runtime", choices=("torch", "onnxruntime"), default=SearchRequest.runtime,
        help="the runtime the model ships in",
    )  # fmt: skip
    search.add_argument(
        "--precision", choices=("fp32", "int8"), default=SearchRequest.precision, help="the precision it ships in"
    )
    add_device(search, "where candidates are scored")
    search.add_argument("--threads", type=int, help="torch CPU threads of each scorer (demo: 1 is fastest)")
    search.add_argument(
        "--workers", type=int, default=SearchRequest.workers, metavar="N",
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
    from hat.search.report import SearchOutputs
    from hat.search.run import SearchRequest, run_search
    from hat.tasks import load_task

    request = SearchRequest(
        task=load_task(args.task),
        supernet=args.supernet,
        data=args.data,
        predictor=args.predictor,
        budget_ms=args.latency_budget,
        budget_pct=args.latency_budget_pct,
        outputs=SearchOutputs.next_to(args.out, sidecar=args.sidecar, log_csv=args.log_csv, plot=args.plot),
        settings=settings_from_args(args),
        hardware=args.hardware,
        valid_max_batches=args.valid_max_batches,
        measure_latency=args.measure_latency,
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
