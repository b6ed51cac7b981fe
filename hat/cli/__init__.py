"""The `hat` command. Argument parsing only: every handler calls into the package.

Each command group lives in `hat/cli/<group>.py` and exposes `register(subparsers)`; handlers
import their heavy dependencies (torch, fairseq) lazily, so `hat latency ...` never imports
fairseq and `hat --help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
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
    "inherited_loss",
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
        status = args.func(args) or 0
        sys.stdout.flush()  # a closed pipe (`hat ... | head`) fails here, not at interpreter exit
        return status
    except HatError as err:
        return _fail(str(err))
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return _fail("stdout: the reading end of the pipe was closed (Broken pipe)")
    except OSError as err:  # a file fault no command anticipated: still one line naming the file
        from hat.io import os_error_message

        return _fail(os_error_message(err))
    except UnicodeDecodeError as err:
        return _fail(f"an input file is not UTF-8 text ({err.reason} at byte offset {err.start})")


def _fail(message: str) -> int:
    print(f"hat: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
