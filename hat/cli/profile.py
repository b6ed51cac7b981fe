"""`hat profile SUB.yml --task T`: #params and FLOPs (HAT conventions) as one JSON object,
optionally with the latency measured here under HAT's protocol (`--latency cpu|cuda`)."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    profile = subparsers.add_parser("profile", help="#params and FLOPs of a SubTransformer (HAT's conventions)")
    profile.add_argument("config", help="SubTransformer YAML (HAT format)")
    profile.add_argument("--task", required=True, help="task name or task.yml (sets the space and length)")
    profile.add_argument("--latency", choices=["cpu", "cuda"], help="also measure latency on this device (spec §3)")
    profile.add_argument("--threads", type=int, help="torch CPU threads for --latency (recorded either way)")
    profile.set_defaults(func=_profile)


def _profile(args) -> int:
    from hat.profile import task_counts
    from hat.space import read_subconfig
    from hat.tasks import load_task

    task = load_task(args.task)
    config = read_subconfig(args.config)
    task.space.validate(config, source=args.config)
    report = {
        "config": args.config,
        "task": task.name,
        **task_counts(config, task),
        "sentence_length": task.sentence_length,
    }
    if args.latency:
        from hat.latency.measure import LatencyMeter

        meter = LatencyMeter(task, device=args.latency, threads=args.threads)
        report["latency"] = {**meter.measure(config).to_dict(), **meter.protocol()}
    print(json.dumps(report))
    return 0
