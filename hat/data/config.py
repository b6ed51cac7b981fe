"""The `data:` section of a task.yml, validated at the edge (spec §8).

A task's data is one of three kinds, chosen by which key the section holds:

* `sources:` + `splits:` — public corpora to download (the four HAT tasks);
* `files:`  — the user's own aligned text files, `{split: {lang: path}}` (paths relative to the
  task.yml);
* `demo:`   — the offline synthetic language pair, generated from a seed.

All three end as the same raw layout, `RAW/<source name>/<file>`, which the shared pipeline
(`hat.data.prepare`) reads through `Part`s. Every other key (tokenize, clean, bpe, dictionary)
applies to all kinds. Mistakes are one-line HatErrors naming the task file and the key path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from hat.errors import HatError

SPLITS = ("train", "valid", "test")
FORMATS = ("text", "sgm", "input-from-sgm", "ted-tags", "tsv", "tmx")
DEMO_SOURCE = "demo"
PREPROCESSED_SOURCE = "hat-preprocessed"
LOCAL_SOURCE = "local"


@dataclass(frozen=True)
class Source:
    """One download (`url`) or the user's files (`local_files`: raw file name -> path)."""

    name: str
    url: str | None = None
    sha256: str | None = None
    local_files: tuple[tuple[str, Path], ...] = ()
    filename: str = ""  # the downloaded file's name (default: the URL's last path segment)


@dataclass(frozen=True)
class Part:
    """Aligned text inside a source: one file per language, or one bilingual file (tsv, tmx).

    `files` maps language -> path inside `RAW/<source>/`; for tsv/tmx both languages name the
    same file. A path ending in `.gz` is decompressed while read.
    """

    source: str
    files: tuple[tuple[str, str], ...]
    format: str = "text"
    columns: tuple[tuple[str, int], ...] = ()

    def file_for(self, lang: str) -> str:
        return dict(self.files)[lang]


@dataclass(frozen=True)
class TokenizeConfig:
    moses: bool = True  # sacremoses tokenization (off for pre-tokenized or synthetic text)
    normalize: bool = True  # Moses normalize-punctuation + remove-non-printing-char, train text only
    aggressive_dash_splits: bool = False  # tokenizer.perl -a
    lowercase: bool = False


@dataclass(frozen=True)
class CleanConfig:
    """Moses clean-corpus-n: keep a pair iff both sides have min..max tokens and ratio <= ratio."""

    min_tokens: int
    max_tokens: int
    ratio: float
    after_bpe: bool  # True: train+valid after BPE (WMT); False: train before BPE (IWSLT)


@dataclass(frozen=True)
class DemoConfig:
    seed: int
    sizes: tuple[tuple[str, int], ...]  # split -> number of sentence pairs


@dataclass(frozen=True)
class DataConfig:
    kind: str  # "download" | "files" | "demo"
    source_lang: str
    target_lang: str
    sources: tuple[Source, ...]
    splits: tuple[tuple[str, tuple[Part, ...]], ...]  # split -> parts (valid absent when held out)
    valid_every_nth: int | None  # valid = every n-th line of the (cleaned) train text
    tokenize: TokenizeConfig
    clean: CleanConfig | None
    bpe_merges: int | None  # learn joint BPE with this many merges...
    bpe_codes: Part | None  # ...or apply these codes (files: {"codes": path})
    joined_dictionary: bool
    nwords: int
    threshold: int
    demo: DemoConfig | None = None
    bpe_learn_order: tuple[str, ...] = ()  # languages whose train text BPE learns on, in this order
    fixed_dictionary: Part | None = None  # binarize against this dict.txt (files: {"fixed": path})
    preprocessed: Source | None = None  # HAT's binarized bundle: the alternative to rebuilding

    @property
    def langs(self) -> tuple[str, str]:
        return (self.source_lang, self.target_lang)

    def parts(self, split: str) -> tuple[Part, ...]:
        return dict(self.splits).get(split, ())


# ----------------------------------------------------------------------------------------------


class _Reader:
    """Typed access to a nested mapping; errors name `<file>: data.<key path>`."""

    def __init__(self, values: Any, where: str, origin: str):
        self.where, self.origin = where, origin
        if not isinstance(values, dict):
            self.fail(f"must be a mapping, got {values!r}")
        self.values = values

    def fail(self, message: str, key: str | None = None):
        path = f"{self.where}.{key}" if key else self.where
        raise HatError(f"{self.origin}: {path} {message}")

    def only(self, *allowed: str) -> None:
        unknown = sorted(set(self.values) - set(allowed))
        if unknown:
            self.fail(f"has unknown key '{unknown[0]}' (allowed: {', '.join(allowed)})")

    def get(self, key: str, kind: type | tuple, default: Any = ..., none_ok: bool = False) -> Any:
        if key not in self.values:
            if default is ...:
                self.fail("is missing", key)
            return default
        value = self.values[key]
        if value is None and none_ok:
            return None
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            self.fail(f"has the wrong type ({value!r})", key)
        return value

    def sub(self, key: str) -> _Reader:
        return _Reader(self.values.get(key, {}), f"{self.where}.{key}", self.origin)


def parse_data_config(
    values: dict[str, Any], source_lang: str, target_lang: str, joined_dictionary: bool, task_file: Path
) -> DataConfig:
    """Validate a task's `data:` mapping; `joined_dictionary` comes from the space's
    share-all-embeddings (a shared embedding needs one vocabulary)."""
    data = _Reader(values, "data", str(task_file))
    data.only("sources", "splits", "files", "demo", "tokenize", "clean", "bpe", "dictionary", "preprocessed")
    kinds = [kind for kind in ("sources", "files", "demo") if kind in data.values]
    if len(kinds) != 1:
        data.fail("needs exactly one of 'sources' (downloads), 'files' (your corpus) or 'demo'")
    langs = (source_lang, target_lang)
    if kinds == ["sources"]:
        sources = _parse_sources(data)
        splits, every_nth = _parse_splits(data.sub("splits"), {s.name for s in sources}, langs)
        kind, demo = "download", None
    elif kinds == ["files"]:
        sources, splits = _parse_files(data.sub("files"), langs, task_file.parent)
        kind, every_nth, demo = "files", None, None
    else:
        demo = _parse_demo(data.sub("demo"))
        sources = (Source(name=DEMO_SOURCE),)
        splits = tuple((split, (_text_part(DEMO_SOURCE, split, langs),)) for split, _ in demo.sizes)
        kind, every_nth = "demo", None
    source_names = {s.name for s in sources}
    bpe = data.sub("bpe")
    bpe.only("merges", "codes", "learn-on")
    merges = bpe.get("merges", int, default=None)
    codes = _parse_source_file(bpe, "codes", source_names)
    if (merges is None) == (codes is None):
        bpe.fail("needs exactly one of 'merges' (learn joint BPE) or 'codes' (apply given codes)")
    learn_order = tuple(bpe.get("learn-on", list, default=list(langs)))
    if sorted(learn_order) != sorted(langs):
        bpe.fail(f"must list the languages {', '.join(langs)} in the order BPE reads them", "learn-on")
    dictionary = data.sub("dictionary")
    dictionary.only("nwords", "threshold", "fixed")
    fixed = _parse_source_file(dictionary, "fixed", source_names)
    if fixed is not None and not joined_dictionary:
        dictionary.fail("needs a shared vocabulary (share-all-embeddings) to be used for both languages", "fixed")
    return DataConfig(
        kind=kind,
        source_lang=source_lang,
        target_lang=target_lang,
        sources=sources,
        splits=splits,
        valid_every_nth=every_nth,
        tokenize=_parse_tokenize(data.sub("tokenize")),
        clean=_parse_clean(data) if "clean" in data.values else None,
        bpe_merges=merges,
        bpe_codes=codes,
        bpe_learn_order=learn_order,
        fixed_dictionary=fixed,
        preprocessed=_parse_preprocessed(data),
        joined_dictionary=joined_dictionary,
        nwords=dictionary.get("nwords", int, default=-1),
        threshold=dictionary.get("threshold", int, default=0),
        demo=demo,
    )


def _parse_sources(data: _Reader) -> tuple[Source, ...]:
    entries = data.get("sources", list)
    sources = []
    for index, entry in enumerate(entries):
        source = _Reader(entry, f"data.sources[{index}]", data.origin)
        source.only("name", "url", "sha256", "filename")
        sources.append(_parse_source(source, source.get("name", str)))
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        data.fail("names a source twice", "sources")
    return tuple(sources)


def _parse_source(source: _Reader, name: str) -> Source:
    """`{url, sha256, filename?}` (and `name` in a sources list)."""
    source.only("name", "url", "sha256", "filename")
    url = source.get("url", str)
    if urlparse(url).scheme not in ("http", "https", "file"):
        source.fail(f"must be an http(s):// or file:// URL, got {url!r}", "url")
    filename = source.get("filename", str, default=Path(urlparse(url).path).name)
    if not filename or Path(filename).name != filename:
        source.fail(f"must be a plain file name (the URL does not end in one), got {filename!r}", "filename")
    sha256 = source.get("sha256", str, none_ok=True)
    if sha256 is not None and (len(sha256) != 64 or set(sha256) - set("0123456789abcdef")):
        source.fail("must be 64 lower-case hex digits or null", "sha256")
    return Source(name=name, url=url, sha256=sha256, filename=filename)


def _parse_preprocessed(data: _Reader) -> Source | None:
    """`preprocessed: {url, sha256, filename?}`: HAT's binarized bundle (its get_preprocessed.sh)."""
    return _parse_source(data.sub("preprocessed"), PREPROCESSED_SOURCE) if "preprocessed" in data.values else None


def _parse_splits(
    splits: _Reader, source_names: set[str], langs: tuple[str, str]
) -> tuple[tuple[tuple[str, tuple[Part, ...]], ...], int | None]:
    splits.only(*SPLITS)
    every_nth = None
    parsed = []
    for split in SPLITS:
        value = splits.get(split, (list, dict))
        if isinstance(value, dict):
            held_out = _Reader(value, f"{splits.where}.{split}", splits.origin)
            held_out.only("every-nth-of-train")
            if split != "valid":
                held_out.fail("may only be used for valid")
            every_nth = held_out.get("every-nth-of-train", int)
            if every_nth < 2:
                held_out.fail("must be >= 2", "every-nth-of-train")
            continue
        parts = tuple(
            _parse_part(_Reader(entry, f"{splits.where}.{split}[{i}]", splits.origin), source_names, langs)
            for i, entry in enumerate(value)
        )
        if not parts:
            splits.fail("must list at least one part", split)
        parsed.append((split, parts))
    return tuple(parsed), every_nth


def _parse_part(part: _Reader, source_names: set[str], langs: tuple[str, str]) -> Part:
    """`{source, files, format?, columns?}`; files is a `{lang}` template, a {lang: path} map or,
    for tsv/tmx, one path."""
    part.only("source", "files", "format", "columns")
    source = part.get("source", str)
    if source not in source_names:
        part.fail(f"names unknown source '{source}'", "source")
    fmt = part.get("format", str, default="text")
    if fmt not in FORMATS:
        part.fail(f"must be one of {', '.join(FORMATS)}, got {fmt!r}", "format")
    files = part.get("files", (str, dict))
    if isinstance(files, dict):
        if set(files) != set(langs) or not all(isinstance(v, str) for v in files.values()):
            part.fail(f"must map exactly the languages {', '.join(langs)} to paths", "files")
        per_lang = {lang: files[lang] for lang in langs}
    else:
        per_lang = {lang: files.replace("{lang}", lang) for lang in langs}
    bilingual = fmt in ("tsv", "tmx")
    if bilingual != (per_lang[langs[0]] == per_lang[langs[1]]):
        part.fail("must be one file for tsv/tmx and one file per language ('{lang}') otherwise", "files")
    columns: dict[str, int] = {}
    if fmt == "tsv":
        columns = part.get("columns", dict)
        if set(columns) != set(langs) or not all(isinstance(c, int) and c >= 0 for c in columns.values()):
            part.fail(f"must map {', '.join(langs)} to 0-based column numbers", "columns")
    return Part(
        source=source,
        files=tuple(per_lang.items()),
        format=fmt,
        columns=tuple((lang, columns[lang]) for lang in langs) if columns else (),
    )


def _text_part(source: str, split: str, langs: tuple[str, str]) -> Part:
    return Part(source=source, files=tuple((lang, f"{split}.{lang}") for lang in langs))


def _parse_files(files: _Reader, langs: tuple[str, str], base: Path) -> tuple[tuple[Source, ...], tuple]:
    """The user's corpus: `{train|valid|test: {lang: path}}` -> one local source holding
    `<split>.<lang>` files, read as plain text."""
    files.only(*SPLITS)
    local_files = []
    for split in SPLITS:
        per_lang = files.sub(split)
        per_lang.only(*langs)
        for lang in langs:
            path = Path(per_lang.get(lang, str)).expanduser()
            local_files.append((f"{split}.{lang}", path if path.is_absolute() else base / path))
    source = Source(name=LOCAL_SOURCE, local_files=tuple(local_files))
    return (source,), tuple((split, (_text_part(LOCAL_SOURCE, split, langs),)) for split in SPLITS)


def _parse_demo(demo: _Reader) -> DemoConfig:
    demo.only("seed", *SPLITS)
    sizes = tuple((split, demo.get(split, int)) for split in SPLITS)
    for split, size in sizes:
        if size < 1:
            demo.fail("must be a positive number of sentence pairs", split)
    return DemoConfig(seed=demo.get("seed", int), sizes=sizes)


def _parse_source_file(section: _Reader, key: str, source_names: set[str]) -> Part | None:
    """`key: {source, file}`: one file inside a downloaded source (BPE codes, a fixed dictionary),
    as a Part whose only file is named `key`."""
    if key not in section.values:
        return None
    entry = section.sub(key)
    entry.only("source", "file")
    source = entry.get("source", str)
    if source not in source_names:
        entry.fail(f"names unknown source '{source}'", "source")
    return Part(source=source, files=((key, entry.get("file", str)),))


def _parse_tokenize(tokenize: _Reader) -> TokenizeConfig:
    tokenize.only("moses", "normalize", "aggressive-dash-splits", "lowercase")
    defaults = TokenizeConfig()
    return TokenizeConfig(
        moses=tokenize.get("moses", bool, default=defaults.moses),
        normalize=tokenize.get("normalize", bool, default=defaults.normalize),
        aggressive_dash_splits=tokenize.get("aggressive-dash-splits", bool, default=defaults.aggressive_dash_splits),
        lowercase=tokenize.get("lowercase", bool, default=defaults.lowercase),
    )


def _parse_clean(data: _Reader) -> CleanConfig:
    clean = data.sub("clean")
    clean.only("min-tokens", "max-tokens", "ratio", "when")
    when = clean.get("when", str)
    if when not in ("before-bpe", "after-bpe"):
        clean.fail(f"must be 'before-bpe' or 'after-bpe', got {when!r}", "when")
    config = CleanConfig(
        min_tokens=clean.get("min-tokens", int),
        max_tokens=clean.get("max-tokens", int),
        ratio=float(clean.get("ratio", (int, float))),
        after_bpe=when == "after-bpe",
    )
    if not 0 <= config.min_tokens <= config.max_tokens or config.ratio < 1:
        clean.fail("needs 0 <= min-tokens <= max-tokens and ratio >= 1")
    return config


def load_data_config(task) -> DataConfig:
    """The validated data config of a `hat.tasks.Task`."""
    if not task.data:
        raise HatError(f"{task.path}: task has no data section")
    return parse_data_config(
        task.data, task.source_lang, task.target_lang, task.space.share_all_embeddings, Path(task.path)
    )
