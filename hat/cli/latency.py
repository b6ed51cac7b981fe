"""`hat latency ...`: measure SubTransformers, record datasets, fetch HAT's published CSVs.

Everything here runs where only torch and this package are installed: no fairseq on this path.
"""

from __future__ import annotations

import argparse
import json

from hat.cli.devices import add_device


def register(subparsers) -> None:
    from hat.latency.adaptive import StopRule  # torch-free, as the dataset module
    from hat.latency.dataset import DriftSettings  # torch-free

    latency = subparsers.add_parser("latency", help="latency measurement and datasets (torch only)")
    commands = latency.add_subparsers(dest="latency_command", required=True)

    measure = commands.add_parser("measure", help="time one SubTransformer; prints JSON")
    measure.add_argument("config", help="SubTransformer YAML (HAT format)")
    _add_protocol_arguments(measure)
    measure.set_defaults(func=_measure)

    dataset = commands.add_parser("dataset", help="time N sampled SubTransformers into a HAT-format CSV")
    dataset.add_argument(
        "--samples", type=_samples, required=True, help="N, or auto: rounds until the predictor stops improving"
    )
    auto = (
        ("--auto-floor", StopRule.floor, "rows of the first round"),
        ("--auto-round", StopRule.round_rows, "rows per later round"),
        ("--auto-ceiling", StopRule.ceiling, "at most this many rows"),
    )
    for flag, default, meaning in auto:
        dataset.add_argument(flag, type=int, default=default, help=f"--samples auto: {meaning}")
    dataset.add_argument("--out", required=True, help="CSV; OUT.partial while recording, OUT.env.json sidecar")
    dataset.add_argument("--seed", type=int, default=0)
    dataset.add_argument(
        "--tolerance",
        type=float,
        default=DriftSettings.tolerance,
        help="drift guard: a device state this far from the baseline is drift; a row this uncertain is re-measured",
    )
    dataset.add_argument(
        "--runs-per-reference",
        type=int,
        default=DriftSettings.runs_per_reference,
        help="drift guard: timed runs of a sample between two runs of the reference (docs/latency.md)",
    )
    dataset.add_argument("--no-progress", action="store_true")
    _add_protocol_arguments(dataset)
    dataset.set_defaults(func=_dataset)

    fetch = commands.add_parser("fetch-published", help="download HAT's published CSV (pinned, checksummed)")
    fetch.add_argument("--task", required=True)
    fetch.add_argument("--hardware", required=True, choices=["raspberrypi", "xeon", "titanxp"])
    fetch.add_argument("--out", required=True)
    fetch.add_argument("--url-base", help="mirror of HAT's latency_dataset/ folder (default: GitHub, pinned commit)")
    fetch.set_defaults(func=_fetch)


def _add_protocol_arguments(parser) -> None:
    from hat.latency.measure import LatencyMeter  # torch-free at import

    parser.add_argument("--task", required=True, help="task name or task.yml")
    add_device(parser, "where the models are timed")
    parser.add_argument("--threads", type=int, help="torch CPU threads (recorded either way)")
    parser.add_argument("--runs", type=int, default=LatencyMeter.runs, help="timed runs (trimmed 10 %% / 10 %%)")
    parser.add_argument("--warmup", type=int, default=LatencyMeter.warmup, help="untimed warm-up runs")
    parser.add_argument("--fp16", action="store_true", help="half precision (CUDA only)")
    vocab = parser.add_mutually_exclusive_group(required=True)
    vocab.add_argument("--data", help="the task's binarized data dir: the vocabulary is its target dictionary's")
    vocab.add_argument("--vocab-size", type=int, help="output projection size (where the data is not at hand)")
    parser.add_argument("--runtime", choices=["torch", "onnxruntime"], default="torch", help="what runs the model")
    parser.add_argument("--precision", choices=["fp32", "int8"], default="fp32", help="int8: dynamic quantization")


def _meter(args):
    from hat.latency.measure import LatencyMeter, data_vocab_size
    from hat.tasks import load_task

    task = load_task(args.task)
    return LatencyMeter(
        task,
        device=args.device,
        runs=args.runs,
        warmup=args.warmup,
        threads=args.threads,
        fp16=args.fp16,
        vocab_size=data_vocab_size(args.data, task) if args.data else args.vocab_size,
        runtime=args.runtime,
        precision=args.precision,
    )


def _measure(args) -> int:
    from hat.space import read_subconfig

    config = read_subconfig(args.config)
    meter = _meter(args)
    meter.task.latency_space.validate(config, source=args.config)
    print(json.dumps({"config": args.config, **meter.measure(config).to_dict(), **meter.protocol()}, indent=1))
    return 0


def _samples(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of samples or 'auto', got {text!r}") from None


def _dataset(args) -> int:
    from pathlib import Path

    from hat.io import require_writable_dir
    from hat.latency.dataset import DriftSettings, record_dataset

    require_writable_dir(Path(args.out).parent)  # before the calibration's minutes, not after them
    meter = _meter(args)
    record = dict(
        task=meter.task,
        seed=args.seed,
        measure=meter.measure_once,
        settings=DriftSettings(
            runs=args.runs, warmup=args.warmup, runs_per_reference=args.runs_per_reference, tolerance=args.tolerance
        ),
        protocol=meter.protocol(),
        progress=not args.no_progress,
    )
    if args.samples == "auto":
        return _dataset_auto(args, record)
    summary = record_dataset(args.out, samples=args.samples, **record)
    print(
        f"{args.out}: {summary.rows} rows ({summary.resumed_rows} resumed, "
        f"{summary.remeasured_rows} re-measured, {summary.normalized_rows} normalized, "
        f"{summary.flagged_rows} flagged for drift)"
    )
    return 0


def _dataset_auto(args, record) -> int:
    from hat.latency.adaptive import StopRule, record_adaptive

    rule = StopRule(floor=args.auto_floor, round_rows=args.auto_round, ceiling=args.auto_ceiling)
    adaptive = record_adaptive(args.out, rule=rule, accuracy=adaptive_accuracy(record["task"], args.seed), **record)
    last = adaptive["curve"][-1]
    print(f"{args.out}: {adaptive['rows']} rows, out-of-fold ±10 % {last['within_10_pct']} %; {adaptive['stopped']}")
    return 0


def adaptive_accuracy(task, seed: int):
    """CSV -> the default predictor's out-of-fold accuracy over its steady rows (the stop rule's input)."""
    import numpy as np

    from hat.latency.table import read_latency_csv
    from hat.predictor.run import learning_point

    def accuracy(csv) -> dict:
        rows = read_latency_csv(csv, space=task.latency_space, min_rows=0)
        features = np.array([row.features for row in rows])  # [N, 10]
        target_ms = np.array([row.total_ms for row in rows])  # [N]
        return learning_point(features, target_ms, np.array([row.drift_flag == 1 for row in rows]), seed)

    return accuracy


def _fetch(args) -> int:
    from hat.latency.published import DEFAULT_URL_BASE, fetch_published
    from hat.tasks import load_task

    task = load_task(args.task).name
    url = fetch_published(task, args.hardware, args.out, args.url_base or DEFAULT_URL_BASE)
    print(f"{args.out}: fetched {url} (sha256 verified)")
    return 0
