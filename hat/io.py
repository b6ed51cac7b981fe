"""Crash-safe file writing, safe checkpoint loading, and one-line messages for OS faults.

Every artifact the workflow produces is written through `atomic_path`, so a crash never leaves a
half-written file under the final name (Snakemake and resume logic would take it for finished);
the file gets the mode a plain `open()` would give it (0o666 less the umask), not mkstemp's 0600.
A process killed mid-write (SIGKILL, OOM) leaves its temporary behind; the temporary's name holds
its writer's host and PID, and the next write or `remove_written` of the same file on that host
deletes the temporaries whose writer is gone (a live writer's, or another host's, are kept).
A write that fails for an OS reason (read-only file system, disk full, no permission) is a
`HatError` naming the final file and the cause.

Checkpoints are loaded with `weights_only=True`: a file can hold tensors and plain containers, and
loading never executes code from it. `save_checkpoint` stores a sha256 over the file's content
(`content_digest`: every key, value and tensor byte) under `DIGEST_KEY`; `load_checkpoint`
recomputes it, so flipped bytes inside tensor data (which torch's zip reader does not check) are
an error naming the file instead of a model that is silently wrong. Checkpoints and predictor
files both go through these two functions; fairseq's training checkpoints get the same entry from
`hat.fairseq_plugin.trainer`. A file without the entry (written before it existed) loads unverified.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

from hat.errors import HatError

DIGEST_KEY = "hat_content_sha256"


def os_error_message(err: OSError, path: str | os.PathLike | None = None) -> str:
    """'FILE: cause' for an OSError; FILE is the error's own file name, else `path`."""
    name = err.filename if err.filename is not None else path
    cause = err.strerror or str(err) or type(err).__name__
    return f"{name}: {cause}" if name is not None else cause


def umask_mode(mode: int = 0o666) -> int:
    """`mode` less the process umask: what `open()` or `mkdir()` would create."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def require_writable_dir(directory: str | os.PathLike) -> None:
    """Prove that files can be created in `directory` (or, while it does not exist yet, in its
    nearest existing parent) without leaving anything there; a HatError naming it otherwise.
    Commands call this before expensive work whose result would go there."""
    directory = Path(directory)
    existing = next(path for path in (directory, *directory.absolute().parents) if path.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        fd, probe = tempfile.mkstemp(prefix=".hat-write-test.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise HatError(f"{directory}: cannot write there ({err.strerror or err})") from None


def _writer_tag() -> str:
    """'PID@HOST' of this process, as it goes into its temporaries' names."""
    return f"{os.getpid()}@{socket.gethostname()}"


def _remove_orphaned_temporaries(final: Path) -> None:
    """Delete the temporaries of `final` left by a writer on this host that no longer runs."""
    pattern = re.compile(re.escape(f".{final.name}.") + r"(\d+)@(.+)\.[^.]+\.tmp")
    host = socket.gethostname()
    for candidate in final.parent.iterdir():
        match = pattern.fullmatch(candidate.name)
        if match and match[2] == host and not _process_runs(int(match[1])):
            candidate.unlink(missing_ok=True)


def _process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        pass
    return True


def remove_written(path: str | os.PathLike) -> None:
    """Delete a file written through `atomic_path` (if present) and its killed writers' temporaries."""
    final = Path(path)
    final.unlink(missing_ok=True)
    _remove_orphaned_temporaries(final)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path` atomically.
    An OSError while writing it is a HatError naming `path` (not the temporary name)."""
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphaned_temporaries(final)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.{_writer_tag()}.", suffix=".tmp", dir=final.parent)
    except OSError as err:
        raise HatError(f"{final}: cannot write ({err.strerror or err})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, umask_mode())
        yield tmp
        os.replace(tmp, final)
    except OSError as err:
        if err.filename in (None, tmp_name, str(final)):
            raise HatError(f"{final}: cannot write ({err.strerror or err})") from None
        raise HatError(os_error_message(err)) from None
    finally:
        tmp.unlink(missing_ok=True)


def outputs_beside(main: str | os.PathLike, endings: dict[str, str], given: dict[str, Any]) -> dict[str, Path]:
    """A command's other output files: for each name the path `given` for it or, where none is
    given (a user running the command by hand), MAIN's stem + `endings[name]` beside MAIN."""
    main = Path(main)
    return {name: Path(given.get(name) or main.with_name(main.stem + end)) for name, end in endings.items()}


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_text(path: str | os.PathLike) -> str:
    """A UTF-8 text file's content; missing, unreadable or not UTF-8 is a HatError naming it."""
    with text_errors(path):
        return Path(path).read_text(encoding="utf-8")


@contextlib.contextmanager
def text_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn an OSError or UnicodeDecodeError while reading `path` into a HatError naming it."""
    try:
        yield
    except UnicodeDecodeError as err:
        raise HatError(f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start})") from None
    except OSError as err:
        raise HatError(os_error_message(err, path)) from None


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with text_errors(path), open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Checkpoints

_PLAIN_TYPES = (bool, int, float, complex, str, bytes, type(None))


def content_digest(obj: Any) -> str:
    """sha256 over a checkpoint's content: container structure, keys, plain values (their repr,
    exact for floats) and every tensor's dtype, shape and bytes. Equal for a saved and a loaded
    object; any changed byte of tensor data changes it."""
    digest = hashlib.sha256()
    _feed(digest, obj)
    return digest.hexdigest()


def _feed(digest, value: Any) -> None:
    import torch

    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"T{value.dtype}{tuple(value.shape)}:".encode())
        digest.update(data.view(torch.uint8).numpy().data if data.numel() else b"")
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}:".encode())
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{'L' if isinstance(value, list) else 'U'}{len(value)}:".encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, (*_PLAIN_TYPES, torch.dtype, torch.device)):
        text = repr(value).encode()
        digest.update(f"{type(value).__name__}{len(text)}:".encode() + text)
    else:
        raise TypeError(f"cannot digest a {type(value).__name__} (checkpoints hold tensors and plain values)")


def with_digest(obj: dict) -> dict:
    """`obj` plus its content digest under DIGEST_KEY (any digest it carried is recomputed)."""
    content = {key: value for key, value in obj.items() if key != DIGEST_KEY}
    return {**content, DIGEST_KEY: content_digest(content)}


def save_checkpoint(obj: dict, path: str | os.PathLike) -> None:
    """torch.save (with the content digest) through a temporary file; `obj` must hold only tensors
    and plain Python values. A failed write (disk full, ...) is a HatError naming `path`."""
    import torch

    obj = with_digest(obj)
    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as err:  # torch's zip writer reports a failed write without errno
            raise HatError(f"{path}: cannot write ({_write_failure_cause(tmp, err)})") from None


def _write_failure_cause(tmp: Path, err: RuntimeError) -> str:
    free_bytes = shutil.disk_usage(tmp.parent).free
    return os.strerror(errno.ENOSPC) if free_bytes < (1 << 20) else _first_line(err)


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _load_failure_cause(path: str | os.PathLike, err: Exception) -> str:
    """torch's message, cut to its cause: a refused pickle is named by the global it wanted
    (torch's advice to load with weights_only=False is exactly what must not be done here)."""
    with open(path, "rb") as f:
        if f.read(2) != b"PK":  # torch.save writes a zip archive
            return "not a torch checkpoint file"
    text = str(err)
    if "Weights only load failed" in text:
        refused = re.search(r"unsupported GLOBAL (\S+)", text)
        wanted = f" ({refused[1]})" if refused else ""
        return f"it holds code or objects{wanted}, which are refused without running them"
    return _first_line(err)


def load_checkpoint(path: str | os.PathLike, map_location: str = "cpu") -> dict:
    """Load a checkpoint without unpickling arbitrary objects and verify its content digest;
    missing, unreadable, foreign or corrupt files are one-line HatErrors naming the file."""
    import torch

    if not Path(path).is_file():
        raise HatError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except OSError as err:
        raise HatError(os_error_message(err, path)) from None
    except Exception as err:  # noqa: BLE001  torch raises anything on a foreign file (KeyError for text)
        raise HatError(f"{path}: not a loadable HAT checkpoint ({_load_failure_cause(path, err)})") from None
    if isinstance(checkpoint, dict) and DIGEST_KEY in checkpoint:
        stored = checkpoint.pop(DIGEST_KEY)
        if content_digest(checkpoint) != stored:
            raise HatError(f"{path}: content does not match its sha256 digest (the file is corrupt; recreate it)")
    return checkpoint


# --------------------------------------------------------------------------------------------
# YAML


def parse_yaml(text: str, source: str | os.PathLike) -> Any:
    """yaml.safe_load, except that a key given twice in one mapping is a HatError naming the key
    and its line (PyYAML keeps the last value silently: a duplicated budget list would vanish)."""
    import yaml

    try:
        return yaml.load(text, Loader=_unique_key_loader())  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as err:
        raise HatError(f"{source}: not valid YAML ({_first_line(err)})") from None
    except _DuplicateKey as err:
        raise HatError(f"{source}: {err}") from None


class _DuplicateKey(Exception):
    pass


def _unique_key_loader():
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, Hashable):
                    continue  # SafeLoader's own error names it
                if key in seen:
                    line = key_node.start_mark.line + 1
                    raise _DuplicateKey(f"line {line}: key '{key}' appears twice in one mapping")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def read_yaml(path: str | os.PathLike) -> Any:
    """A YAML file (parse_yaml); missing, unreadable or not UTF-8 is a HatError naming it."""
    return parse_yaml(read_text(path), path)
