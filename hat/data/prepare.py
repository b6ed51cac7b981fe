"""`hat data prepare`: raw corpora -> fairseq-binarized directory, in resumable steps (spec §8).

Steps, each writing `OUT/text/<stage>.<split>.<lang>` and then a marker `OUT/.steps/<step>.done`
(a finished step is skipped on re-run; a changed data config clears the markers):

1. extract   raw parts of each split, concatenated                         -> raw.*
2. tokenize  Moses normalize (train only)/tokenize, lowercase (per task)   -> tok.*
3. split     clean train (IWSLT: before BPE), hold out valid lines (every
             n-th line of train, when configured)                          -> pre.*, OUT/test.ref.<tgt>
4. bpe-codes learn joint BPE on pre.train (src+tgt), or copy given codes  -> OUT/bpe.codes
5. bpe       apply BPE; clean train+valid (WMT: after BPE)                 -> final.*
6. binarize  fairseq-preprocess (joined dictionary iff shared embeddings;
             HAT's fixed dictionary where the task has one)               -> OUT/dict.*, OUT/*.bin/idx

This is the order of HAT's preprocess.sh scripts: IWSLT tokenizes, cleans, lower-cases, then
holds out every 23rd train line as valid; WMT'14 En-Fr holds out every 1333rd line, learns BPE,
then cleans train and valid after BPE. Test text is never length-filtered, and punctuation
normalization applies to train text only: HAT's scripts pipe train through normalize-punctuation
but tokenize valid/test sets straight from the sgm, so test.ref keeps « » and „ “.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from hat.data import MANIFEST, write_manifest
from hat.data.config import SPLITS, DataConfig
from hat.data.corpus import read_part
from hat.data.download import link_or_copy
from hat.data.text import clean_pair_files, learn_joint_bpe, make_bpe, make_tokenizer, map_lines
from hat.errors import HatError
from hat.io import atomic_path, write_text_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Work:
    config: DataConfig
    raw_dir: Path
    out_dir: Path
    threads: int

    @property
    def text_dir(self) -> Path:
        return self.out_dir / "text"

    @property
    def codes(self) -> Path:
        return self.out_dir / "bpe.codes"

    def text(self, stage: str, split: str, lang: str) -> Path:
        return self.text_dir / f"{stage}.{split}.{lang}"

    def prefix(self, stage: str, split: str) -> Path:
        """fairseq's `--trainpref` style prefix: the file name without `.<lang>`."""
        return self.text_dir / f"{stage}.{split}"


def prepare(config: DataConfig, raw_dir: Path, out_dir: Path, threads: int) -> None:
    work = _Work(config, Path(raw_dir), Path(out_dir), max(1, threads))
    steps_dir = work.out_dir / ".steps"
    _reset_markers_if_config_changed(steps_dir, config)
    ran_a_step = False
    for name, run in _STEPS:
        marker = steps_dir / f"{name}.done"
        if marker.is_file():
            log.info("data prepare: step %s already done", name)
            continue
        log.info("data prepare: step %s", name)
        run(work)
        write_text_atomic(marker, "")
        ran_a_step = True
    if ran_a_step or not (work.out_dir / MANIFEST).is_file():
        write_manifest(work.out_dir)


def use_preprocessed(config: DataConfig, raw_dir: Path, out_dir: Path) -> None:
    """`hat data prepare --preprocessed`: link the binarized files of HAT's bundle (unpacked by
    `hat data download --preprocessed`, in whichever folder of it they lie) into `out_dir`."""
    from hat.data import preprocessed_source

    unpacked = Path(raw_dir) / preprocessed_source(config).name
    src, tgt = config.langs
    needed = [f"dict.{lang}.txt" for lang in (src, tgt)]
    needed += [f"{split}.{src}-{tgt}.{lang}.{ext}" for split in SPLITS for lang in (src, tgt) for ext in ("bin", "idx")]
    found = sorted(unpacked.rglob(needed[0]))
    if not found:
        raise HatError(f"{unpacked}: no {needed[0]} in HAT's bundle (run `hat data download --preprocessed` first)")
    bundle = found[0].parent
    missing = [name for name in needed if not (bundle / name).is_file()]
    if missing:
        raise HatError(f"{bundle}: HAT's bundle has no {missing[0]}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in needed:
        _replace_with_link(bundle / name, out_dir / name)
    write_manifest(out_dir)


def _reset_markers_if_config_changed(steps_dir: Path, config: DataConfig) -> None:
    fingerprint = hashlib.sha256(repr(config).encode()).hexdigest()
    recorded = steps_dir / "config.sha256"
    if recorded.is_file() and recorded.read_text() == fingerprint:
        return
    for marker in steps_dir.glob("*.done"):
        marker.unlink()
    write_text_atomic(recorded, fingerprint)


def _extract(work: _Work) -> None:
    langs = work.config.langs
    for split in SPLITS:
        parts = work.config.parts(split)
        if not parts:
            continue
        paths = [work.text("raw", split, lang) for lang in langs]
        with atomic_path(paths[0]) as tmp_src, atomic_path(paths[1]) as tmp_tgt:
            with open(tmp_src, "w", encoding="utf-8") as out_src, open(tmp_tgt, "w", encoding="utf-8") as out_tgt:
                for part in parts:
                    for source, target in read_part(part, work.raw_dir / part.source, langs):
                        out_src.write(_one_line(source) + "\n")
                        out_tgt.write(_one_line(target) + "\n")


def _one_line(text: str) -> str:
    """Keep a sentence on one line (TMX/TSV cells may hold line breaks)."""
    return " ".join(text.splitlines())


def _present_splits(work: _Work, stage: str) -> list[str]:
    return [split for split in SPLITS if work.text(stage, split, work.config.source_lang).is_file()]


def _tokenize(work: _Work) -> None:
    for split in _present_splits(work, "raw"):
        settings = work.config.tokenize if split == "train" else replace(work.config.tokenize, normalize=False)
        for lang in work.config.langs:
            map_lines(
                make_tokenizer,
                (lang, settings),
                work.text("raw", split, lang),
                work.text("tok", split, lang),
                work.threads,
                label=f"tokenize {split}.{lang}",
            )


def _split(work: _Work) -> None:
    config, (src, tgt) = work.config, work.config.langs
    train = [work.text("tok", "train", lang) for lang in (src, tgt)]
    if config.clean is not None and not config.clean.after_bpe:
        cleaned = [work.text("clean", "train", lang) for lang in (src, tgt)]
        kept = clean_pair_files(*train, *cleaned, config.clean)
        log.info("data prepare: kept %d train pairs after cleaning", kept)
        train = cleaned
    if config.valid_every_nth:
        for lang, path in zip((src, tgt), train, strict=True):
            _hold_out(path, config.valid_every_nth, work.text("pre", "train", lang), work.text("pre", "valid", lang))
    else:
        for lang, path in zip((src, tgt), train, strict=True):
            _replace_with_link(path, work.text("pre", "train", lang))
            _replace_with_link(work.text("tok", "valid", lang), work.text("pre", "valid", lang))
    for lang in (src, tgt):
        _replace_with_link(work.text("tok", "test", lang), work.text("pre", "test", lang))
    _replace_with_link(work.text("pre", "test", tgt), work.out_dir / f"test.ref.{tgt}")


def _hold_out(path: Path, every_nth: int, train_out: Path, valid_out: Path) -> None:
    """Line i (1-based) goes to valid when i % every_nth == 0, else to train (HAT's awk split)."""
    with atomic_path(train_out) as tmp_train, atomic_path(valid_out) as tmp_valid:
        with open(path, encoding="utf-8") as f, open(tmp_train, "w") as train, open(tmp_valid, "w") as valid:
            for number, line in enumerate(f, 1):
                (valid if number % every_nth == 0 else train).write(line)


def _replace_with_link(src: Path, dst: Path) -> None:
    dst.unlink(missing_ok=True)
    link_or_copy(src, dst)


def _bpe_codes(work: _Work) -> None:
    config = work.config
    if config.bpe_codes is not None:
        given = work.raw_dir / config.bpe_codes.source / config.bpe_codes.file_for("codes")
        if not given.is_file():
            raise HatError(f"{given}: BPE codes not found (run `hat data download` first)")
        _replace_with_link(given, work.codes)
        return
    order = config.bpe_learn_order or config.langs
    learn_joint_bpe([work.text("pre", "train", lang) for lang in order], config.bpe_merges, work.codes)


def _apply_bpe(work: _Work) -> None:
    config, (src, tgt) = work.config, work.config.langs
    for split in SPLITS:
        for lang in (src, tgt):
            map_lines(
                make_bpe,
                (work.codes,),
                work.text("pre", split, lang),
                work.text("bpe", split, lang),
                work.threads,
                label=f"bpe {split}.{lang}",
            )
    for split in SPLITS:
        pair = [work.text("bpe", split, lang) for lang in (src, tgt)]
        final = [work.text("final", split, lang) for lang in (src, tgt)]
        if config.clean is not None and config.clean.after_bpe and split != "test":
            kept = clean_pair_files(*pair, *final, config.clean)
            log.info("data prepare: kept %d %s pairs after cleaning", kept, split)
        else:
            for path, final_path in zip(pair, final, strict=True):
                _replace_with_link(path, final_path)


def _binarize(work: _Work) -> None:
    from hat.data.binarize import binarize

    config, fixed = work.config, work.config.fixed_dictionary
    dictionary = work.raw_dir / fixed.source / fixed.file_for("fixed") if fixed is not None else None
    if dictionary is not None and not dictionary.is_file():
        raise HatError(f"{dictionary}: fixed dictionary not found (run `hat data download` first)")
    binarize(
        prefixes={split: work.prefix("final", split) for split in SPLITS},
        langs=config.langs,
        out_dir=work.out_dir,
        joined_dictionary=config.joined_dictionary,
        nwords=config.nwords,
        threshold=config.threshold,
        workers=work.threads,
        dictionary=dictionary,
    )


_STEPS = (
    ("extract", _extract),
    ("tokenize", _tokenize),
    ("split", _split),
    ("bpe-codes", _bpe_codes),
    ("bpe", _apply_bpe),
    ("binarize", _binarize),
)
