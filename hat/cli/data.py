"""`hat data ...`: fetch a task's raw corpora and turn them into a fairseq-binarized directory."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="task data: download raw corpora, prepare binarized data")
    commands = data.add_subparsers(dest="data_command", required=True)

    download = commands.add_parser(
        "download", help="fetch raw corpora (demo: generate offline; own corpus: verify and link)"
    )
    download.add_argument("--task", required=True, help="task name or task.yml")
    download.add_argument("--out-dir", required=True, type=Path, help="raw directory, e.g. resources/T/raw")
    download.add_argument("--preprocessed", action="store_true", help="fetch HAT's binarized bundle instead")
    download.set_defaults(func=_download)

    prepare = commands.add_parser("prepare", help="tokenize, clean, BPE and binarize into a fairseq data dir")
    prepare.add_argument("--task", required=True, help="task name or task.yml")
    prepare.add_argument("--raw-dir", required=True, type=Path, help="what `hat data download` filled")
    prepare.add_argument("--out-dir", required=True, type=Path, help="binarized output, e.g. results/T/data")
    prepare.add_argument("--threads", type=int, default=1, help="worker processes (tokenize, BPE, binarize)")
    prepare.add_argument("--preprocessed", action="store_true", help="use HAT's binarized bundle as it is")
    prepare.set_defaults(func=_prepare)


def _download(args) -> int:
    from hat.data import fetch_raw
    from hat.data.config import load_data_config
    from hat.io import require_writable_dir
    from hat.tasks import load_task

    require_writable_dir(args.out_dir)
    fetch_raw(load_data_config(load_task(args.task)), args.out_dir, preprocessed=args.preprocessed)
    print(f"{args.out_dir}: raw data ready")
    return 0


def _prepare(args) -> int:
    from hat.data.config import load_data_config
    from hat.data.prepare import prepare, use_preprocessed
    from hat.io import require_writable_dir
    from hat.tasks import load_task

    require_writable_dir(args.out_dir)
    config = load_data_config(load_task(args.task))
    if args.preprocessed:
        use_preprocessed(config, args.raw_dir, args.out_dir)
    else:
        prepare(config, args.raw_dir, args.out_dir, args.threads)
    print(f"{args.out_dir}: binarized data ready")
    return 0
