"""`hat inherited-loss`: the inherited loss of a SubTransformer (hat.fairseq_plugin.fitness)."""

from __future__ import annotations


def register(subparsers) -> None:
    command = subparsers.add_parser(
        "inherited-loss", help="inherited loss of a SubTransformer: its loss with the supernet's weights"
    )
    command.add_argument("--task", required=True, help="task name or task.yml")
    command.add_argument("--supernet", required=True, help="supernet checkpoint (checkpoint_best.pt)")
    command.add_argument("--data", required=True, help="fairseq-binarized dir")
    command.add_argument("--config", required=True, help="SubTransformer YAML (HAT format)")
    command.add_argument("--subset", default="valid")
    command.add_argument("--max-batches", type=int, help="only the first N batches (HAT's --valid-cnt-max)")
    command.add_argument("--max-tokens", type=int, help="batch size in tokens (default: the task's max-tokens)")
    from hat.cli.devices import add_device

    add_device(command, "where the loss is computed")
    command.set_defaults(func=_inherited_loss)


def _inherited_loss(args) -> int:
    from hat.fairseq_plugin.fitness import InheritedLoss
    from hat.space import read_subconfig
    from hat.tasks import load_task

    task = load_task(args.task)
    config = read_subconfig(args.config)
    task.space.validate(config, source=args.config)
    inherited_loss = InheritedLoss(
        task, args.supernet, args.data, device=args.device, max_batches=args.max_batches, subset=args.subset,
        max_tokens=args.max_tokens,
    )  # fmt: skip
    print(f"{inherited_loss.loss(config):.6f}")
    return 0
