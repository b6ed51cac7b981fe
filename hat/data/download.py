"""Fetching a task's raw corpora into RAW (the `hat data download` step).

Layout of RAW:
* `RAW/<file name>`           the downloaded file, under its final name only once verified;
                              a manually downloaded copy goes exactly there;
* `RAW/.partial/<file name>`  an interrupted download, resumed with an HTTP Range request;
* `RAW/<source name>/`        its unpacked content (tar/zip extracted, .gz decompressed, a plain
                              file linked), renamed into place atomically once complete.

Verification: the sha256 from the task's data config when given; otherwise (sha256: null, for
files whose checksum could not be recorded) the archive must unpack completely and every file
the splits name must exist in it. A verified file gets a stamp (`RAW/.verified/<file>.json`:
size, mtime, sha256), so re-running does not re-hash gigabytes.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from hat.data.config import DataConfig, Source
from hat.errors import HatError
from hat.io import atomic_path, sha256_file, umask_mode, write_text_atomic

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60


def download_source(source: Source, raw_dir: Path, required_files: list[str]) -> Path:
    """Download (or reuse) `source`, verify it, unpack it into `raw_dir/<source.name>/`."""
    archive = raw_dir / source.filename
    if not archive.is_file():
        _fetch(source.url, raw_dir / ".partial" / source.filename, archive)
    _verify(source, archive, raw_dir)
    unpacked = raw_dir / source.name
    if not unpacked.is_dir():
        unpack_archive(archive, unpacked)
    missing = [name for name in required_files if not (unpacked / name).is_file()]
    if missing:
        raise HatError(f"{archive}: has no member '{missing[0]}' (from {source.url}); is it the right file?")
    return unpacked


def download_task(config: DataConfig, raw_dir: Path) -> None:
    for source in config.sources:
        download_source(source, raw_dir, required_files(config, source.name))


def required_files(config: DataConfig, source_name: str) -> list[str]:
    """Every file inside `source_name` that the splits (and BPE codes, a fixed dictionary) read."""
    parts = [part for _, parts in config.splits for part in parts]
    parts += [part for part in (config.bpe_codes, config.fixed_dictionary) if part is not None]
    return sorted({path for part in parts if part.source == source_name for _, path in part.files})


# ----------------------------------------------------------------------------------------------
# fetching


def _fetch(url: str, partial: Path, final: Path) -> None:
    """Download `url` to `partial` (resuming from its current size), then rename onto `final`."""
    partial.parent.mkdir(parents=True, exist_ok=True)
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            status = getattr(response, "status", None)
            if status == 200 and "text/html" in response.headers.get("Content-Type", ""):
                raise HatError(f"{url} answered with a web page, not the file; {_manual_hint(final)}")
            resuming = have and status == 206
            total = _expected_total(response, have if resuming else 0)
            with open(partial, "ab" if resuming else "wb") as out:
                _copy_with_progress(response, out, total, start=have if resuming else 0, label=final.name)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the partial file is already complete
            os.replace(partial, final)
            return
        raise HatError(f"cannot download {url} (HTTP {err.code}); {_manual_hint(final)}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        reason = getattr(err, "reason", err)
        raise HatError(f"cannot download {url} ({reason}); {_manual_hint(final)}") from None
    if total is not None and partial.stat().st_size != total:
        raise HatError(f"download of {url} stopped at {partial.stat().st_size} of {total} bytes; re-run to resume")
    os.replace(partial, final)


def _manual_hint(final: Path) -> str:
    return f"download it by hand and place it at {final.resolve()}"


def _expected_total(response, offset: int) -> int | None:
    length = response.headers.get("Content-Length")
    return offset + int(length) if length is not None else None


def _copy_with_progress(response, out, total: int | None, start: int, label: str) -> None:
    from tqdm import tqdm

    with tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=label, disable=None) as bar:
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            bar.update(len(chunk))


# ----------------------------------------------------------------------------------------------
# verifying and unpacking


def _verify(source: Source, archive: Path, raw_dir: Path) -> None:
    """Check the sha256 (when the config has one), once per file version (see module doc)."""
    stamp_path = raw_dir / ".verified" / f"{archive.name}.json"
    stat = archive.stat()
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": source.sha256}
    if stamp_path.is_file() and json.loads(stamp_path.read_text()) == stamp:
        return
    if source.sha256 is not None:
        actual = sha256_file(archive)
        if actual != source.sha256:
            raise HatError(
                f"{archive}: sha256 {actual} does not match the expected {source.sha256} "
                f"(from {source.url}); delete it and re-run, or place the right file there"
            )
    write_text_atomic(stamp_path, json.dumps(stamp))


def unpack_archive(archive: Path, target: Path) -> None:
    """Unpack into a temporary sibling directory, renamed onto `target` only when complete."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    os.chmod(tmp, umask_mode(0o777))  # mkdtemp's 0700 would become the unpacked directory's mode
    try:
        name = archive.name
        if tarfile.is_tarfile(archive):
            _extract_tar(archive, tmp)
        elif zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(tmp)
        elif name.endswith(".gz"):
            with gzip.open(archive, "rb") as src, open(tmp / name[: -len(".gz")], "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK_BYTES)
        else:
            link_or_copy(archive, tmp / name)
        os.replace(tmp, target)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, gzip.BadGzipFile) as err:
        raise HatError(f"{archive}: damaged or incomplete archive ({err}); delete it and re-run") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _extract_tar(archive: Path, target: Path) -> None:
    """Extract with tarfile's "data" filter (Python >= 3.11.4); on older Pythons accept only plain
    files and directories inside `target`, which is what every corpus archive holds."""
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
            return
        members = tar.getmembers()
        for member in members:
            inside = (target / member.name).resolve().is_relative_to(target.resolve())
            if not inside or not (member.isfile() or member.isdir()):
                raise HatError(f"{archive}: member '{member.name}' is a link or lies outside the archive's directory")
        tar.extractall(target, members=members)


def link_or_copy(src: Path, dst: Path) -> None:
    """A hard link when src and dst share a file system, else a copy (written atomically)."""
    try:
        os.link(src, dst)
    except OSError:
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)


def place_local_files(source: Source, raw_dir: Path, check) -> None:
    """The user's corpus: verify each split's pair with `check(paths_by_lang)`, then link or copy
    the files to `RAW/<source>/<split>.<lang>`."""
    target = raw_dir / source.name
    by_split: dict[str, dict[str, Path]] = {}
    for raw_name, path in source.local_files:
        split, lang = raw_name.split(".", 1)
        by_split.setdefault(split, {})[lang] = path
    for paths in by_split.values():
        check(paths)
    target.mkdir(parents=True, exist_ok=True)
    for raw_name, path in source.local_files:
        (target / raw_name).unlink(missing_ok=True)
        link_or_copy(path, target / raw_name)
