"""`hat import ...`: HAT's released files -> this project's (hat.interop)."""

from __future__ import annotations


def register(subparsers) -> None:
    importing = subparsers.add_parser("import", help="use HAT's released checkpoints")
    commands = importing.add_subparsers(dest="import_command", required=True)

    checkpoint = commands.add_parser(
        "hat-checkpoint", help="HAT/fairseq-0.8 checkpoint -> our supernet, or a dense SubTransformer with --config"
    )
    checkpoint.add_argument("file", help="HAT checkpoint (.pt), e.g. HAT_wmt14ende_super_space0.pt")
    checkpoint.add_argument("--task", required=True, help="task name or task.yml whose design space the file has")
    checkpoint.add_argument("--config", help="SubTransformer YAML: write that dense SubTransformer instead")
    checkpoint.add_argument("--data", help="binarized data dir: check its dictionaries match the vocabulary")
    checkpoint.add_argument("--out", required=True, help="our checkpoint to write")
    checkpoint.set_defaults(func=_import_checkpoint)

    download = commands.add_parser("download", help="download one of HAT's released models (resumable)")
    download.add_argument("name", help="e.g. HAT_wmt14ende_super_space0 (HAT's download_model.py names)")
    download.add_argument("--out", required=True, help="file to write, e.g. resources/hat-models/NAME.pt")
    download.add_argument("--sha256", help="expected sha256 (HAT publishes none; pin one you trust)")
    download.add_argument("--url", help="download from here instead of HAT's Dropbox link (a mirror)")
    download.set_defaults(func=_download)


def _import_checkpoint(args) -> int:
    from hat.export import count_model_parameters
    from hat.interop.hat_format import import_hat_checkpoint
    from hat.tasks import load_task

    model = import_hat_checkpoint(
        args.file, load_task(args.task), args.out, config_path=args.config, data_dir=args.data
    )
    kind = "dense SubTransformer" if args.config else "supernet"
    print(f"{args.out}: {kind}, {count_model_parameters(model):,} parameters without embeddings")
    return 0


def _download(args) -> int:
    from hat.interop.published import fetch_model

    print(f"{args.out}: sha256 {fetch_model(args.name, args.out, sha256=args.sha256, url=args.url)}")
    return 0
