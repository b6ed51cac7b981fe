"""`hat export`: supernet checkpoint + SubTransformer YAML -> standalone dense model."""

from __future__ import annotations


def register(subparsers) -> None:
    export = subparsers.add_parser("export", help="extract a SubTransformer as a standalone dense model")
    export.add_argument("--supernet", required=True, help="supernet checkpoint (checkpoint_best.pt)")
    export.add_argument("--config", required=True, help="SubTransformer YAML (HAT format)")
    export.add_argument("--out", required=True, help="output model checkpoint")
    export.set_defaults(func=_export)


def _export(args) -> int:
    from hat.export import count_model_parameters, export_subtransformer, load_supernet, save_model
    from hat.space import read_subconfig

    supernet, space = load_supernet(args.supernet)
    config = read_subconfig(args.config)
    space.validate(config, source=args.config)
    dense = export_subtransformer(supernet, config)
    save_model(dense, args.out)
    print(
        f"{args.out}: {count_model_parameters(dense):,} parameters without embeddings "
        f"({count_model_parameters(dense, include_embeddings=True):,} with)"
    )
    return 0
