"""`hat space ...`: inspect design spaces and validate SubTransformer YAMLs."""

from __future__ import annotations

import json
import random


def register(subparsers) -> None:
    space = subparsers.add_parser("space", help="design spaces and SubTransformer configs")
    commands = space.add_subparsers(dest="space_command", required=True)

    validate = commands.add_parser("validate", help="check a SubTransformer YAML against a task's space")
    validate.add_argument("config", help="SubTransformer YAML (HAT format)")
    validate.add_argument("--task", required=True, help="task name or task.yml")
    validate.set_defaults(func=_validate)

    info = commands.add_parser("info", help="print a task's space as JSON (choices, size)")
    info.add_argument("--task", required=True, help="task name or task.yml")
    info.add_argument("--latency", action="store_true", help="the wider latency-dataset space")
    info.set_defaults(func=_info)

    sample = commands.add_parser("sample", help="write N uniformly sampled SubTransformer YAMLs")
    sample.add_argument("--task", required=True)
    sample.add_argument("-n", type=int, default=1)
    sample.add_argument("--seed", type=int, required=True)
    sample.add_argument("--out-dir", required=True)
    sample.set_defaults(func=_sample)

    baseline = commands.add_parser(
        "baseline", help="a uniformly scaled baseline SubTransformer (YAML) and/or its predicted latency (JSON)"
    )
    baseline.add_argument("--task", required=True, help="task name or task.yml")
    baseline.add_argument(
        "--scale", type=int, required=True, help="0..100: how far up every choice list (0 smallest, 100 largest)"
    )
    baseline.add_argument("--out", help="SubTransformer YAML to write")
    baseline.add_argument("--predictor", help="latency predictor (.pt) of --hardware, for --sidecar")
    baseline.add_argument("--hardware", help="hardware name (must match the predictor's)")
    baseline.add_argument(
        "--sidecar", help="JSON to write: predicted latency, #params, FLOPs (what `hat report profile --search` reads)"
    )
    baseline.set_defaults(func=_baseline)


def _validate(args) -> int:
    from hat.space import read_subconfig
    from hat.tasks import load_task

    load_task(args.task).space.validate(read_subconfig(args.config), source=args.config)
    print(f"{args.config}: ok")
    return 0


def _info(args) -> int:
    from hat.tasks import load_task

    task = load_task(args.task)
    space = task.latency_space if args.latency else task.space
    print(json.dumps({"task": task.name, "space": space.name, "size": space.size(), **space.to_hat_dict()}, indent=1))
    return 0


def _sample(args) -> int:
    from pathlib import Path

    from hat.space import write_subconfig
    from hat.tasks import load_task

    space = load_task(args.task).space
    rng = random.Random(args.seed)
    for index in range(args.n):
        write_subconfig(space.sample(rng), Path(args.out_dir) / f"sample{index:04d}.yml")
    return 0


def _baseline(args) -> int:
    from pathlib import Path

    from hat.baseline import baseline_config, baseline_sidecar
    from hat.errors import HatError
    from hat.io import write_text_atomic
    from hat.space import write_subconfig
    from hat.tasks import load_task

    if not (args.out or args.sidecar):
        raise HatError("hat space baseline: give --out (the YAML), --sidecar (its predicted latency) or both")
    if args.sidecar and not (args.predictor and args.hardware):
        raise HatError("hat space baseline: --sidecar needs --predictor and --hardware")
    task = load_task(args.task)
    if args.out:
        write_subconfig(baseline_config(task, args.scale), args.out)
        print(f"wrote {args.out}")
    if args.sidecar:
        sidecar = baseline_sidecar(task, args.scale, Path(args.predictor), args.hardware)
        write_text_atomic(args.sidecar, json.dumps(sidecar, indent=1) + "\n")
        print(f"wrote {args.sidecar}: predicted {sidecar['predicted_latency_ms']:.4g} ms on {args.hardware}")
    return 0
