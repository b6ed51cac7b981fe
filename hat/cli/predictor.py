"""`hat predictor ...`: train a latency predictor on a CSV, predict for a CSV."""

from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    from hat.predictor.kinds import METHODS  # torch-free: numpy and the package only

    predictor = subparsers.add_parser("predictor", help="latency predictors")
    commands = predictor.add_subparsers(dest="predictor_command", required=True)

    train = commands.add_parser("train", help="fit on a latency CSV; writes P.pt + metrics/predictions/PNG")
    train.add_argument("csv", help="latency CSV (HAT's or ours)")
    train.add_argument("--task", required=True, help="task name or task.yml")
    train.add_argument("--hardware", required=True, help="hardware name recorded in the file")
    add_predictor_outputs(train)
    train.add_argument("--method", choices=METHODS, default="cost", help="cost-per-layer needs our CSVs' configs")
    train.add_argument("--seed", type=int, default=0, help="held-out split (and MLP init) seed")
    train.set_defaults(func=_train)

    predict = commands.add_parser("predict", help="add a predicted_ms column to a CSV")
    predict.add_argument("predictor", help="predictor file")
    predict.add_argument("csv", help="CSV with the 10 HAT feature columns (latency columns optional)")
    predict.add_argument("--out", required=True)
    predict.set_defaults(func=_predict)

    from hat.cli.importing import register_predictor_import

    register_predictor_import(commands)


def add_predictor_outputs(parser) -> None:
    """--out and the three files written beside it (`hat.predictor.report.PredictorOutputs`)."""
    parser.add_argument("--out", required=True, help="predictor file, e.g. results/T/predictor/HW.pt")
    parser.add_argument("--metrics", help="held-out metrics JSON (default: OUT with suffix .metrics.json)")
    parser.add_argument("--predictions", help="held-out predictions CSV (default: OUT with suffix .predictions.csv)")
    parser.add_argument("--plot", help="predicted-vs-measured PNG (default: OUT with suffix .png)")


def predictor_outputs(args):
    from hat.predictor.report import PredictorOutputs

    return PredictorOutputs.next_to(args.out, metrics=args.metrics, predictions=args.predictions, plot=args.plot)


def _train(args) -> int:
    from hat.predictor.run import train_predictor
    from hat.tasks import load_task

    metrics = train_predictor(
        Path(args.csv),
        task=load_task(args.task),
        hardware=args.hardware,
        outputs=predictor_outputs(args),
        method=args.method,
        seed=args.seed,
    )
    print(json.dumps(metrics))
    return 0


def _predict(args) -> int:
    from hat.predictor import load_predictor
    from hat.predictor.report import write_with_predictions

    write_with_predictions(load_predictor(args.predictor), args.csv, args.out)
    return 0
