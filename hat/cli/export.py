"""`hat export`: supernet checkpoint + SubTransformer YAML -> standalone dense model, or (with
`--format hat`) the supernet as a HAT/fairseq-0.8 checkpoint."""

from __future__ import annotations


def register(subparsers) -> None:
    export = subparsers.add_parser("export", help="extract a SubTransformer as a standalone dense model")
    export.add_argument("--supernet", required=True, help="supernet checkpoint (checkpoint_best.pt)")
    export.add_argument("--config", help="SubTransformer YAML (HAT format); required for --format dense")
    export.add_argument("--out", required=True, help="output model checkpoint")
    export.add_argument(
        "--format",
        choices=("dense", "hat"),
        default="dense",
        help="dense: our standalone SubTransformer; hat: HAT's layout (super-width tensors, Namespace args; "
        "--config is recorded as HAT's *_subtransformer args)",
    )
    export.set_defaults(func=_export)


def _export(args) -> int:
    from hat.errors import HatError
    from hat.export import count_model_parameters, export_subtransformer, load_supernet, save_model
    from hat.space import read_subconfig

    supernet, space = load_supernet(args.supernet)
    config = read_subconfig(args.config) if args.config else None
    if config is not None:
        space.validate(config, source=args.config)
    if args.format == "hat":
        from hat.interop.hat_format import save_hat_checkpoint

        save_hat_checkpoint(supernet, space, args.out, config=config)
        print(f"{args.out}: HAT-format supernet, {count_model_parameters(supernet):,} parameters without embeddings")
        return 0
    if config is None:
        raise HatError("--config SUB.yml is required for --format dense")
    dense = export_subtransformer(supernet, config)
    save_model(dense, args.out)
    print(
        f"{args.out}: {count_model_parameters(dense):,} parameters without embeddings "
        f"({count_model_parameters(dense, include_embeddings=True):,} with)"
    )
    return 0
