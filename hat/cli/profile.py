"""`hat profile SUB.yml --task T`: #params and FLOPs (HAT conventions) as one JSON object."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    profile = subparsers.add_parser("profile", help="#params and FLOPs of a SubTransformer (HAT's conventions)")
    profile.add_argument("config", help="SubTransformer YAML (HAT format)")
    profile.add_argument("--task", required=True, help="task name or task.yml (sets the space and length)")
    profile.set_defaults(func=_profile)


def profile_report(config_path: str, task_name: str) -> dict:
    """The JSON object `hat profile` prints (also used by other commands' sidecars)."""
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
    print(json.dumps(profile_report(args.config, args.task)))
    return 0
