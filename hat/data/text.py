"""Line-by-line text steps, run in parallel: Moses normalization/tokenization (sacremoses),
clean-corpus-n filtering, and joint BPE (subword-nmt) — spec §8.

Every parallel step maps a per-line function over a file with a process pool (`threads`
workers, order kept) and shows a tqdm bar; one thread runs in-process.
"""

from __future__ import annotations

import io
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from hat.data.config import CleanConfig, TokenizeConfig
from hat.io import atomic_path

BATCH_LINES = 2000

# Per-process state, set by the pool initializers (a Moses tokenizer or a BPE model).
_worker_fn: Callable[[str], str] | None = None


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def _batches(path: Path) -> Iterator[list[str]]:
    batch: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            batch.append(line.rstrip("\n"))
            if len(batch) == BATCH_LINES:
                yield batch
                batch = []
    if batch:
        yield batch


def _apply_batch(batch: list[str]) -> list[str]:
    assert _worker_fn is not None
    return [_worker_fn(line) for line in batch]


def _init_worker(make_fn: Callable[..., Callable[[str], str]], args: tuple) -> None:
    global _worker_fn
    _worker_fn = make_fn(*args)


def map_lines(
    make_fn: Callable[..., Callable[[str], str]], args: tuple, src: Path, dst: Path, threads: int, label: str
) -> None:
    """dst[i] = f(src[i]) with f = make_fn(*args) built once per worker; dst written atomically."""
    from tqdm import tqdm

    total = _count_lines(src)
    with atomic_path(dst) as tmp, open(tmp, "w", encoding="utf-8") as out:
        bar = tqdm(total=total, desc=label, unit=" lines", disable=None)
        if threads <= 1:
            _init_worker(make_fn, args)
            results: Iterable[list[str]] = map(_apply_batch, _batches(src))
            _write_batches(results, out, bar)
        else:
            context = multiprocessing.get_context("fork")
            with context.Pool(threads, initializer=_init_worker, initargs=(make_fn, args)) as pool:
                _write_batches(pool.imap(_apply_batch, _batches(src)), out, bar)
        bar.close()


def _write_batches(batches: Iterable[list[str]], out: io.TextIOBase, bar) -> None:
    for batch in batches:
        out.write("".join(line + "\n" for line in batch))
        bar.update(len(batch))


# ----------------------------------------------------------------------------------------------
# Moses


def make_tokenizer(lang: str, config: TokenizeConfig) -> Callable[[str], str]:
    """normalize-punctuation + remove-non-printing-char, tokenizer.perl [-a], lowercase."""
    from sacremoses import MosesPunctNormalizer, MosesTokenizer

    normalizer = MosesPunctNormalizer(lang, post_remove_control_chars=True) if config.normalize else None
    tokenizer = MosesTokenizer(lang) if config.moses else None

    def tokenize(line: str) -> str:
        if normalizer is not None:
            line = normalizer.normalize(line)
        if tokenizer is not None:
            line = tokenizer.tokenize(line, aggressive_dash_splits=config.aggressive_dash_splits, return_str=True)
        line = " ".join(line.split())
        return line.lower() if config.lowercase else line

    return tokenize


# ----------------------------------------------------------------------------------------------
# clean-corpus-n


def keep_pair(source: str, target: str, config: CleanConfig) -> bool:
    """Moses clean-corpus-n.perl: both sides min..max tokens and neither side more than `ratio`
    times longer than the other."""
    n_source, n_target = len(source.split()), len(target.split())
    if not (config.min_tokens <= n_source <= config.max_tokens and config.min_tokens <= n_target <= config.max_tokens):
        return False
    return n_source <= config.ratio * n_target and n_target <= config.ratio * n_source


def clean_pair_files(src_in: Path, tgt_in: Path, src_out: Path, tgt_out: Path, config: CleanConfig) -> int:
    """Filter an aligned pair of files with `keep_pair`; the number of pairs kept."""
    kept = 0
    with atomic_path(src_out) as tmp_src, atomic_path(tgt_out) as tmp_tgt:
        with (
            open(src_in, encoding="utf-8") as fs,
            open(tgt_in, encoding="utf-8") as ft,
            open(tmp_src, "w", encoding="utf-8") as out_s,
            open(tmp_tgt, "w", encoding="utf-8") as out_t,
        ):
            for source, target in zip(fs, ft, strict=True):
                if keep_pair(source, target, config):
                    out_s.write(" ".join(source.split()) + "\n")
                    out_t.write(" ".join(target.split()) + "\n")
                    kept += 1
    return kept


# ----------------------------------------------------------------------------------------------
# BPE (subword-nmt)


def learn_joint_bpe(texts: list[Path], merges: int, codes_out: Path) -> None:
    """subword-nmt learn-bpe on the concatenation of `texts` (source + target train)."""
    from subword_nmt.learn_bpe import learn_bpe

    def lines() -> Iterator[str]:
        for path in texts:
            with open(path, encoding="utf-8") as f:
                yield from f

    with atomic_path(codes_out) as tmp, open(tmp, "w", encoding="utf-8") as out:
        learn_bpe(lines(), out, merges)


def make_bpe(codes: Path) -> Callable[[str], str]:
    from subword_nmt.apply_bpe import BPE

    with open(codes, encoding="utf-8") as f:
        bpe = BPE(f)
    return bpe.process_line
