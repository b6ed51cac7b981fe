"""`hat profile SUB.yml --task T`: #params and FLOPs (HAT conventions) as one JSON object,
optionally with the latency measured here under HAT's protocol (`--measure-latency cpu|cuda`): of the
trained model itself with `--checkpoint` (what the workflow reports), else of the config selected
in the task's latency-space SuperTransformer with a `--vocab-size` output projection."""

from __future__ import annotations

import json

from hat.cli.devices import add_measure_latency


def register(subparsers) -> None:
    from hat.latency.measure import FINAL_RUNS, LatencyMeter

    profile = subparsers.add_parser("profile", help="#params and FLOPs of a SubTransformer (HAT's conventions)")
    profile.add_argument("config", help="SubTransformer YAML (HAT format)")
    profile.add_argument("--task", required=True, help="task name or task.yml (sets the space and length)")
    add_measure_latency(profile, "the SubTransformer")
    model = profile.add_mutually_exclusive_group()
    model.add_argument("--checkpoint", help="the trained model of SUB.yml: --measure-latency times this file")
    model.add_argument("--vocab-size", type=int, help="--measure-latency without --checkpoint: output projection size")
    profile.add_argument(
        "--runs", type=int, default=FINAL_RUNS,
        help=f"timed runs for --measure-latency (default {FINAL_RUNS}, HAT's train.py)",
    )  # fmt: skip
    profile.add_argument(
        "--warmup", type=int, default=LatencyMeter.warmup, help="untimed warm-up runs for --measure-latency"
    )
    profile.add_argument("--runtime", choices=["torch", "onnxruntime"], default="torch", help="what runs the model")
    profile.add_argument("--precision", choices=["fp32", "int8"], default="fp32", help="int8: dynamic quantization")
    profile.add_argument(
        "--latency-dataset",
        metavar="CSV",
        help="with --checkpoint: time it paired with this recorded dataset's reference runs and express it in "
        "the dataset's device state, the state its predictor predicts in (docs/latency.md)",
    )
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
        "subtransformer": config.to_hat_dict(),
        "task": task.name,
        **task_counts(config, task),
        "sentence_length": task.sentence_length,
    }
    if args.measure_latency:
        report["latency"] = _latency(args, task, config)
    print(json.dumps(report))
    return 0


def _latency(args, task, config) -> dict:
    """HAT's protocol on `args.measure_latency`: the checkpoint (which must hold `config`) or the supernet slice."""
    from pathlib import Path

    from hat.errors import HatError
    from hat.latency.measure import LatencyMeter

    if args.latency_dataset and args.checkpoint is None:
        raise HatError("--latency-dataset needs --checkpoint (it pairs the shipped model with the dataset's reference)")
    meter = LatencyMeter(
        task,
        device=args.measure_latency,
        runs=args.runs,
        warmup=args.warmup,
        threads=args.measure_threads,
        vocab_size=args.vocab_size,
        runtime=args.runtime,
        precision=args.precision,
        checkpoint=Path(args.checkpoint) if args.checkpoint else None,
    )
    if args.checkpoint is None:
        return {**meter.measure(config).to_dict(), **meter.protocol()}
    if meter.model.config != config:
        raise HatError(f"{args.checkpoint}: its SubTransformer is not the one in {args.config}")
    if args.latency_dataset:
        from hat.latency.dataset import measure_in_recorded_state

        return {**measure_in_recorded_state(meter, args.latency_dataset), **meter.protocol()}
    return {**meter.measure_checkpoint().to_dict(), **meter.protocol()}
