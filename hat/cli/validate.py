"""`hat validate`: inherited-weight validation loss of a SubTransformer (hat.validate)."""

from __future__ import annotations


def register(subparsers) -> None:
    validate = subparsers.add_parser("validate", help="valid loss of a SubTransformer with inherited weights")
    validate.add_argument("--task", required=True, help="task name or task.yml")
    validate.add_argument("--supernet", required=True, help="supernet checkpoint (checkpoint_best.pt)")
    validate.add_argument("--data", required=True, help="fairseq-binarized dir")
    validate.add_argument("--config", required=True, help="SubTransformer YAML (HAT format)")
    validate.add_argument("--subset", default="valid")
    validate.add_argument("--max-batches", type=int, help="only the first N batches (HAT's --valid-cnt-max)")
    validate.add_argument("--max-tokens", type=int, help="batch size in tokens (default: the task's max-tokens)")
    from hat.cli.devices import add_device

    add_device(validate, "where the loss is computed")
    validate.set_defaults(func=_validate)


def _validate(args) -> int:
    from hat.space import read_subconfig
    from hat.tasks import load_task
    from hat.validate import InheritedValidator

    task = load_task(args.task)
    config = read_subconfig(args.config)
    task.space.validate(config, source=args.config)
    validator = InheritedValidator(
        task, args.supernet, args.data, device=args.device, max_batches=args.max_batches, subset=args.subset,
        max_tokens=args.max_tokens,
    )  # fmt: skip
    print(f"{validator.loss(config):.6f}")
    return 0
