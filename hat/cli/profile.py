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


def profile_report(config_path: str, task_name: str) -> dict:
    """The JSON object `hat profile` prints without --latency."""
    from hat.profile import count_flops, count_params
    from hat.space import read_subconfig
    from hat.tasks import load_task

    task = load_task(task_name)
    config = read_subconfig(config_path)
    task.space.validate(config, source=config_path)
    qkv = task.space.qkv_dim
    return {
        "config": config_path,
        "task": task.name,
        "params": count_params(config, qkv),
        "flops": count_flops(config, qkv, task.sentence_length),
        "sentence_length": task.sentence_length,
    }


def _profile(args) -> int:
    report = profile_report(args.config, args.task)
    if args.latency:
        from hat.latency.measure import LatencyMeter
        from hat.space import read_subconfig
        from hat.tasks import load_task

        meter = LatencyMeter(load_task(args.task), device=args.latency, threads=args.threads)
        report["latency"] = {**meter.measure(read_subconfig(args.config)).to_dict(), **meter.protocol()}
    print(json.dumps(report))
    return 0
