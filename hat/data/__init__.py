"""Task data: downloads, Moses/BPE/binarize, the user's own corpus, the offline demo (spec §8).

`fetch_raw` is `hat data download`; `hat.data.prepare.prepare` is `hat data prepare`. What a task
needs is all in its task.yml `data:` section (`hat.data.config`); docs/data.md lists the tasks.
"""

from __future__ import annotations

import json
from pathlib import Path

from hat.data.config import DataConfig
from hat.errors import HatError
from hat.io import write_text_atomic

# Written last by `hat data download` and `hat data prepare`: its presence means the directory is
# complete. The workflow declares it (not the directory) as the output, so a failed job never
# makes Snakemake delete the directory that holds the resume state (partial downloads, step markers).
MANIFEST = "manifest.json"


def write_manifest(directory: Path) -> None:
    """List every visible file under `directory` with its size, as `directory/manifest.json`."""
    files = {
        str(path.relative_to(directory)): path.stat().st_size
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != MANIFEST and not any(part.startswith(".") for part in path.parts)
    }
    write_text_atomic(directory / MANIFEST, json.dumps(files, indent=1) + "\n")


def preprocessed_source(config: DataConfig):
    if config.preprocessed is None:
        raise HatError("this task has no data.preprocessed bundle (HAT published one for its four tasks only)")
    return config.preprocessed


def fetch_raw(config: DataConfig, raw_dir: Path, preprocessed: bool = False) -> None:
    """Fill `raw_dir/<source>/` for every source: download + verify + unpack, place the user's
    verified files, or generate the demo corpus. `preprocessed`: fetch only HAT's binarized
    bundle (`data.preprocessed`) instead."""
    from hat.data import download

    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    if preprocessed:
        download.download_source(preprocessed_source(config), raw_dir, [])
    elif config.kind == "demo":
        from hat.data.demo import generate_demo

        generate_demo(config.demo, raw_dir / config.sources[0].name, config.langs)
    elif config.kind == "files":
        from hat.data.corpus import check_parallel

        download.place_local_files(config.sources[0], raw_dir, check_parallel)
    else:
        download.download_task(config, raw_dir)
    write_manifest(raw_dir)
