"""`hat train supernet|subtransformer`: training on fairseq (hat.train)."""

from __future__ import annotations

from hat.cli.devices import add_device


def _add_common(parser) -> None:
    from hat.world import World

    parser.add_argument("--task", required=True, help="task name or task.yml")
    parser.add_argument("--data", required=True, help="fairseq-binarized dir (`hat data prepare`)")
    parser.add_argument("--save-dir", required=True, help="checkpoint dir; a rerun resumes from checkpoint_last.pt")
    parser.add_argument(
        "--override", action="append", default=[], metavar="KEY=VALUE",
        help="training setting over the task YAML (HAT/fairseq names, e.g. max-update=600); repeatable",
    )  # fmt: skip
    add_device(parser, "where training runs")
    parser.add_argument("--threads", type=int, help="torch CPU threads (of each worker)")
    parser.add_argument(
        "--gpus", type=int, default=World.gpus, metavar="N",
        help="workers per node: GPUs, or with --device cpu processes (gloo); update-freq keeps the task's effective "
        "batch",
    )  # fmt: skip
    parser.add_argument(
        "--nodes", type=int, default=World.nodes, metavar="M",
        help="nodes; > 1 runs as one SLURM (srun) or torchrun task per GPU (docs/distributed.md)",
    )  # fmt: skip


def register(subparsers) -> None:
    train = subparsers.add_parser("train", help="train a SuperTransformer or a SubTransformer (fairseq)")
    commands = train.add_subparsers(dest="train_command", required=True)

    supernet = commands.add_parser("supernet", help="SuperTransformer: one sampled SubTransformer per update")
    _add_common(supernet)
    supernet.set_defaults(func=_supernet)

    sub = commands.add_parser("subtransformer", help="one SubTransformer as a dense model -> SAVE_DIR/checkpoint.pt")
    _add_common(sub)
    sub.add_argument("--config", required=True, help="SubTransformer YAML (HAT format)")
    sub.add_argument(
        "--init",
        choices=("scratch", "inherit"),
        default="scratch",
        help="HAT's from-scratch training, or fine-tuning the supernet's slice (paper Table 6)",
    )
    sub.add_argument("--supernet", help="supernet checkpoint for --init inherit (ignored for scratch)")
    sub.add_argument("--out", help="final model checkpoint (default: SAVE_DIR/checkpoint.pt)")
    sub.add_argument(
        "--average-last",
        type=int,
        metavar="N",
        help="average the last N epoch checkpoints; 1 = checkpoint_best (default: the task's "
        "average-last-checkpoints, IWSLT: 10)",
    )
    sub.set_defaults(func=_subtransformer)


def _summary(result) -> None:
    best = "n/a" if result.best_loss is None else f"{result.best_loss:.3f}"
    print(f"{result.checkpoint}: {result.num_updates} updates, best valid loss {best} (base 2)")


def _world(args):
    from hat.world import World

    return World(gpus=args.gpus, nodes=args.nodes)


def _supernet(args) -> int:
    from hat.tasks import load_task
    from hat.train import parse_overrides, train_supernet

    overrides = parse_overrides(args.override)
    result = train_supernet(
        load_task(args.task), args.data, args.save_dir, overrides, args.device == "cpu", args.threads,
        world=_world(args),
    )  # fmt: skip
    _summary(result)
    return 0


def _subtransformer(args) -> int:
    from hat.tasks import load_task
    from hat.train import parse_overrides, train_subtransformer

    result = train_subtransformer(
        load_task(args.task), args.config, args.data, args.save_dir, init=args.init, supernet=args.supernet,
        average_last=args.average_last, out=args.out, overrides=parse_overrides(args.override),
        cpu=args.device == "cpu", threads=args.threads, world=_world(args),
    )  # fmt: skip
    _summary(result)
    return 0
