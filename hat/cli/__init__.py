"""The `hat` command. Argument parsing only: every handler calls into the package.

Each command group lives in `hat/cli/<group>.py` and exposes `register(subparsers)`; handlers
import their heavy dependencies (torch, fairseq) lazily, so `hat latency ...` never imports
fairseq and `hat --help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
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
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hat", description="Hardware-Aware Transformers")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        importlib.import_module(f"hat.cli.{group}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except HatError as err:
        print(f"hat: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
