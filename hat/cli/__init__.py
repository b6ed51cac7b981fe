"""The `hat` command. Argument parsing only: every handler calls into the package.

Each command group lives in `hat/cli/<group>.py` and exposes `register(subparsers)`; handlers
import their heavy dependencies (torch, fairseq) lazily, so `hat latency ...` never imports
fairseq and `hat --help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from hat.errors import HatError

COMMAND_GROUPS = [
    "space",
    "profile",
    "export",
    "search",
    "report",
    "data",
    "latency",
    "predictor",
    "train",
    "validate",
    "evaluate",
    "importing",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hat", description="Hardware-Aware Transformers")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        importlib.import_module(f"hat.cli.{group}").register(subparsers)
    return parser


def configure_logging() -> None:
    """INFO to stderr in fairseq's CLI format, set before any command imports fairseq: importing
    fairseq's models runs a `logging.basicConfig(level=DEBUG)` of its own (wav2vec2_classification),
    which would otherwise turn on every library's debug output (matplotlib's font search, ...)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s | %(levelname)s | %(name)s | %(message)s", datefmt="%Y-%m-%d %H:%M:%S"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        return args.func(args) or 0
    except HatError as err:
        print(f"hat: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
