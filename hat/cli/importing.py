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


def register_predictor_import(commands) -> None:
    """`hat predictor import` (registered by hat/cli/predictor.py)."""
    from hat.cli.predictor import add_predictor_outputs

    imported = commands.add_parser("import", help="HAT's trained predictor (.pt + its YAML) -> our hat-mlp file")
    imported.add_argument("predictor", help="HAT's latency_dataset/predictors/<task>_<cpu|gpu>_<hw>.pt")
    imported.add_argument("--yaml", required=True, help="its configs/<task>/latency_predictor/<hw>.yml")
    imported.add_argument("--csv", required=True, help="HAT's latency CSV of the same task and hardware (metrics)")
    imported.add_argument("--task", required=True, help="task name or task.yml")
    imported.add_argument("--hardware", required=True, help="hardware name recorded in the file")
    add_predictor_outputs(imported)
    imported.add_argument("--seed", type=int, default=0, help="held-out split seed (as hat predictor train)")
    imported.set_defaults(func=_import_predictor)


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


def _import_predictor(args) -> int:
    import json
    from pathlib import Path

    import numpy as np

    from hat.cli.predictor import predictor_outputs
    from hat.io import sha256_file
    from hat.latency.table import read_latency_csv
    from hat.predictor.hat_import import import_hat_predictor
    from hat.predictor.report import write_predictor_files
    from hat.tasks import load_task

    task = load_task(args.task)
    rows = read_latency_csv(args.csv, space=task.latency_space)
    features = np.array([row.features for row in rows])  # [N, 10]
    target_ms = np.array([row.total_ms for row in rows])  # [N]
    data_info = {"file": Path(args.csv).name, "sha256": sha256_file(args.csv), "rows": len(rows)}
    predictor, heldout = import_hat_predictor(
        args.predictor, args.yaml, task=task, hardware=args.hardware, features=features, target_ms=target_ms,
        data_info=data_info, seed=args.seed,
    )  # fmt: skip
    predicted = predictor.predict_features(features[heldout])
    flags = [rows[i].drift_flag for i in heldout]
    metrics = write_predictor_files(predictor_outputs(args), predictor, heldout, target_ms[heldout], predicted, flags)
    print(json.dumps(metrics))
    return 0
