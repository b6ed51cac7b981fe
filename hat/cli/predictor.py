"""`hat predictor ...`: train a latency predictor on a CSV, predict for a CSV."""

from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    from hat.predictor import METHODS  # torch-free: numpy and the package only

    predictor = subparsers.add_parser("predictor", help="latency predictors")
    commands = predictor.add_subparsers(dest="predictor_command", required=True)

    train = commands.add_parser("train", help="fit on a latency CSV; writes P.pt + metrics/predictions/PNG")
    train.add_argument("csv", help="latency CSV (HAT's or ours)")
    train.add_argument("--task", required=True, help="task name or task.yml")
    train.add_argument("--hardware", required=True, help="hardware name recorded in the file")
    train.add_argument("--out", required=True, help="predictor file, e.g. results/T/predictor/HW.pt")
    train.add_argument("--method", choices=METHODS, default="cost", help="cost-per-layer needs our CSVs' configs")
    train.add_argument("--seed", type=int, default=0, help="held-out split (and MLP init) seed")
    train.set_defaults(func=_train)

    predict = commands.add_parser("predict", help="add a predicted_ms column to a CSV")
    predict.add_argument("predictor", help="predictor file")
    predict.add_argument("csv", help="CSV with the 10 HAT feature columns (latency columns optional)")
    predict.add_argument("--out", required=True)
    predict.set_defaults(func=_predict)


def _train(args) -> int:
    import numpy as np

    from hat.io import sha256_file, write_text_atomic
    from hat.latency.table import read_latency_csv
    from hat.predictor import MIN_TRAIN_ROWS, build_predictor, save_predictor
    from hat.predictor.report import write_heldout_csv, write_heldout_plot
    from hat.tasks import load_task

    task = load_task(args.task)
    rows = read_latency_csv(args.csv, space=task.latency_space, min_rows=MIN_TRAIN_ROWS + 5)
    features = np.array([row.features for row in rows])  # [N, 10]
    target_ms = np.array([row.total_ms for row in rows])  # [N]
    data_info = {
        "file": Path(args.csv).name,
        "sha256": sha256_file(args.csv),
        "rows": len(rows),
        "vocab_size": measured_vocab_size(Path(args.csv)),
    }
    drift_flagged = np.array([row.drift_flag == 1 for row in rows])  # [N]; all False for HAT's CSVs
    predictor, heldout = build_predictor(
        features,
        target_ms,
        method=args.method,
        seed=args.seed,
        task=task,
        hardware=args.hardware,
        data_info=data_info,
        drift_flagged=drift_flagged,
        configs=[row.config for row in rows],
    )
    out = Path(args.out)
    predicted = predictor.predict(features[heldout], [rows[i].config for i in heldout])
    flags = [rows[i].drift_flag for i in heldout]
    write_heldout_csv(out.with_suffix(".predictions.csv"), heldout, target_ms[heldout], predicted, flags)
    write_heldout_plot(out.with_suffix(".png"), target_ms[heldout], predicted, flags, predictor.meta)
    metrics = {"predictor": out.name, "kind": predictor.kind, **predictor.metrics}
    write_text_atomic(out.with_suffix(".metrics.json"), json.dumps(metrics, indent=1) + "\n")
    save_predictor(predictor, out)
    print(json.dumps(metrics))
    return 0


def measured_vocab_size(csv_path: Path) -> int | None:
    """The output vocabulary the CSV was measured with (its `hat latency dataset` sidecar), or None
    (HAT's published CSVs and others without a sidecar do not say)."""
    from hat.latency.dataset import sidecar_path
    from hat.report import read_json_object

    sidecar = sidecar_path(csv_path)
    return read_json_object(sidecar).get("vocab_size") if sidecar.is_file() else None


def _predict(args) -> int:
    from hat.predictor import load_predictor
    from hat.predictor.report import write_with_predictions

    write_with_predictions(load_predictor(args.predictor), args.csv, args.out)
    return 0
