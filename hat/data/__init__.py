"""Task data: downloads, Moses/BPE/binarize, the user's own corpus, the offline demo (spec §8).

`fetch_raw` is `hat data download`; `hat.data.prepare.prepare` is `hat data prepare`. What a task
needs is all in its task.yml `data:` section (`hat.data.config`); docs/data.md lists the tasks.
"""

from __future__ import annotations

from pathlib import Path

from hat.data.config import DataConfig


def fetch_raw(config: DataConfig, raw_dir: Path) -> None:
    """Fill `raw_dir/<source>/` for every source: download + verify + unpack, place the user's
    verified files, or generate the demo corpus."""
    from hat.data import download

    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    if config.kind == "demo":
        from hat.data.demo import generate_demo

        generate_demo(config.demo, raw_dir / config.sources[0].name, config.langs)
    elif config.kind == "files":
        from hat.data.corpus import check_parallel

        download.place_local_files(config.sources[0], raw_dir, check_parallel)
    else:
        download.download_task(config, raw_dir)
