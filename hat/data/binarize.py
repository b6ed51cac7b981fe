"""Binarization with fairseq's own preprocessing (`fairseq_cli.preprocess`, called via its argv
parser; fairseq itself is not patched)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hat.errors import HatError


def binarize(
    prefixes: dict[str, Path],
    langs: tuple[str, str],
    out_dir: Path,
    joined_dictionary: bool,
    nwords: int,
    threshold: int,
    workers: int,
    dictionary: Path | None = None,
) -> list[Path]:
    """fairseq-preprocess `{split}.{lang}` text (prefix per split) into `out_dir`: dict.{lang}.txt and
    {split}.{src}-{tgt}.{lang}.{bin,idx}. Files appear in `out_dir` only after fairseq finished;
    returns their paths. `dictionary`: a fixed joined dictionary, passed as HAT does
    (`--joined-dictionary --tgtdict FILE`: fairseq then uses it for both sides, unchanged)."""
    from fairseq import options
    from fairseq_cli import preprocess

    source_lang, target_lang = langs
    tmp = Path(tempfile.mkdtemp(prefix=".binarize.", dir=out_dir))
    argv = [
        f"--source-lang={source_lang}",
        f"--target-lang={target_lang}",
        f"--trainpref={prefixes['train']}",
        f"--validpref={prefixes['valid']}",
        f"--testpref={prefixes['test']}",
        f"--destdir={tmp}",
        f"--workers={max(1, workers)}",
        f"--nwordssrc={nwords}",
        f"--nwordstgt={nwords}",
        f"--thresholdsrc={threshold}",
        f"--thresholdtgt={threshold}",
        "--dataset-impl=mmap",
    ]
    if joined_dictionary:
        argv.append("--joined-dictionary")
    if dictionary is not None:
        argv.append(f"--tgtdict={dictionary}")
    try:
        preprocess.main(options.get_preprocessing_parser().parse_args(argv))
        produced = sorted(p for p in tmp.iterdir() if p.name != "preprocess.log")
        for path in produced:
            os.replace(path, out_dir / path.name)
    except (OSError, ValueError) as err:
        raise HatError(f"{out_dir}: fairseq binarization failed ({err})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out_dir / path.name for path in produced]
