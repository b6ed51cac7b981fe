"""`hat export`: supernet checkpoint + SubTransformer YAML -> standalone dense model (PyTorch or
ONNX), or (with `--format hat`) the supernet as a HAT/fairseq-0.8 checkpoint."""

from __future__ import annotations


def register(subparsers) -> None:
    export = subparsers.add_parser("export", help="extract a SubTransformer as a standalone dense model")
    export.add_argument(
        "--supernet", "--checkpoint", dest="checkpoint", required=True,
        help="supernet checkpoint (checkpoint_best.pt) with --config, or a model checkpoint holding its SubTransformer",
    )  # fmt: skip
    export.add_argument("--config", help="SubTransformer YAML (HAT format); required for a supernet checkpoint")
    export.add_argument("--out", required=True, help="output model checkpoint, or directory for --format onnx")
    export.add_argument(
        "--format",
        choices=("pt", "onnx", "hat"),
        default="pt",
        help="pt: our standalone SubTransformer; onnx: graphs for ONNX Runtime; hat: the supernet in HAT's layout "
        "(super-width tensors, Namespace args; --config is recorded as HAT's *_subtransformer args)",
    )
    export.add_argument("--precision", choices=["fp32", "int8"], default="fp32", help="onnx only: int8 quantizes")
    export.set_defaults(func=_export)


def _export(args) -> int:
    from hat.errors import HatError
    from hat.export import count_model_parameters, export_subtransformer, load_model, save_model, stored_space
    from hat.space import read_subconfig

    if args.format != "onnx" and args.precision != "fp32":
        raise HatError("--precision int8 is for --format onnx (torch int8 is applied at load: evaluate --precision)")
    if args.format == "hat":
        from hat.export import load_supernet
        from hat.interop.hat_format import save_hat_checkpoint

        supernet, space = load_supernet(args.checkpoint)
        config = read_subconfig(args.config) if args.config else None
        if config is not None:
            space.validate(config, source=args.config)
        save_hat_checkpoint(supernet, space, args.out, config=config)
        print(f"{args.out}: HAT-format supernet, {count_model_parameters(supernet):,} parameters without embeddings")
        return 0
    model = load_model(args.checkpoint)
    config = read_subconfig(args.config) if args.config else model.config
    if config is None:
        raise HatError(f"{args.checkpoint}: a supernet checkpoint; pass --config SUB.yml to pick the SubTransformer")
    space = stored_space(args.checkpoint)
    if space is not None:
        space.validate(config, source=args.config or args.checkpoint)
    dense = export_subtransformer(model, config).eval()
    if args.format == "onnx":
        from hat.runtime.onnx_export import size_on_disk
        from hat.runtime.quantize import export_onnx_at

        export_onnx_at(dense, args.out, args.precision, {"source_checkpoint": str(args.checkpoint)})
        print(f"{args.out}: ONNX encoder + decoder step, {args.precision}, {size_on_disk(args.out):,} bytes")
        return 0
    save_model(dense, args.out)
    print(
        f"{args.out}: {count_model_parameters(dense):,} parameters without embeddings "
        f"({count_model_parameters(dense, include_embeddings=True):,} with)"
    )
    return 0
