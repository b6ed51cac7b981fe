"""Reading aligned text out of raw corpora, with errors that name the file and line.

Formats (a `Part`'s `format`, spec §8):
* `text`     one sentence per line, one file per language (a `.gz` path is decompressed);
* `sgm`      WMT/IWSLT test sets as HAT's preprocess.sh read them (grep '<seg id' | sed):
             only `<seg id=..>` lines, tags stripped, ’ -> ';
* `input-from-sgm`  the same segments as Moses' input-from-sgm.perl (google/seq2seq's
             wmt16_en_de.sh): tags stripped, no quote replaced;
* `ted-tags` IWSLT train.tags: drop <url>/<talkid>/<keywords> lines, strip title/description tags;
* `tsv`      one bilingual file, a column per language, read as HAT's `cut -f` does (a line
             without a tab is the whole cell of every column; a missing column is empty);
* `tmx`      one bilingual TMX file (ParaCrawl), `<tuv xml:lang=..><seg>` per language.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

from hat.data.config import Part
from hat.errors import HatError

Pair = tuple[str, str]

_SEG = re.compile(r"^\s*<seg id=\"?[^>]*>\s*(.*?)\s*</seg>\s*$")
_TED_DROPPED = ("<url>", "<talkid>", "<keywords>")
_TED_STRIPPED = re.compile(r"</?(title|description)>")


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file without its line ending; bad bytes are HatErrors."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                try:
                    yield number, raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as err:
                    raise HatError(f"{path}: line {number}: not UTF-8 (byte {err.start + 1})") from None
    except FileNotFoundError:
        raise HatError(f"{path}: file not found") from None


def read_aligned(paths: dict[str, Path], langs: tuple[str, str]) -> Iterator[Pair]:
    """Zip two line-aligned text files; unequal line counts or an empty file are HatErrors."""
    yield from _zip_named([(paths[lang], read_lines(paths[lang])) for lang in langs])


def _zip_named(sides: list[tuple[Path, Iterator[tuple[int, str]]]]) -> Iterator[Pair]:
    """Zip two numbered line streams of the named files, checking they end together."""
    (left_path, left_lines), (right_path, right_lines) = sides
    count = 0
    while True:
        left, right = next(left_lines, None), next(right_lines, None)
        if left is None or right is None:
            break
        count += 1
        yield left[1], right[1]
    if left is not None or right is not None:
        longer, extra, shorter = (left_path, left, right_path) if left is not None else (right_path, right, left_path)
        raise HatError(f"{longer}: line {extra[0]} has no counterpart: {shorter} ends after {count} aligned lines")
    if count == 0:
        raise HatError(f"{left_path}: file is empty (or holds no sentences)")


def check_parallel(paths: dict[str, Path]) -> int:
    """Read a pair of text files completely; the number of aligned lines (errors as above)."""
    return sum(1 for _ in read_aligned(paths, tuple(paths)))


def read_part(part: Part, source_dir: Path, langs: tuple[str, str]) -> Iterator[Pair]:
    """The aligned (source, target) sentences of one part of a split."""
    paths = {lang: source_dir / part.file_for(lang) for lang in langs}
    if part.format == "text":
        yield from read_aligned(paths, langs)
    elif part.format in _LINE_FILTERS:
        keep = _LINE_FILTERS[part.format]
        yield from _zip_named([(paths[lang], _kept_lines(paths[lang], keep)) for lang in langs])
    elif part.format == "tsv":
        columns = dict(part.columns)
        yield from _nonempty(paths[langs[0]], _tsv_pairs(paths[langs[0]], [columns[lang] for lang in langs]))
    else:
        yield from _nonempty(paths[langs[0]], _tmx_pairs(paths[langs[0]], langs))


def _sgm_segment(line: str) -> str | None:
    segment = _input_from_sgm(line)
    return segment.replace("’", "'") if segment is not None else None


def _input_from_sgm(line: str) -> str | None:
    match = _SEG.match(line)
    return " ".join(match.group(1).split()) if match else None


def _ted_line(line: str) -> str | None:
    if any(tag in line for tag in _TED_DROPPED):
        return None
    return _TED_STRIPPED.sub("", line)


_LINE_FILTERS = {"sgm": _sgm_segment, "input-from-sgm": _input_from_sgm, "ted-tags": _ted_line}


def _kept_lines(path: Path, keep) -> Iterator[tuple[int, str]]:
    """The numbered lines of `path` that `keep` maps to text (None drops a line)."""
    for number, line in read_lines(path):
        kept = keep(line)
        if kept is not None:
            yield number, kept


def _tsv_pairs(path: Path, columns: list[int]) -> Iterator[Pair]:
    for _, line in read_lines(path):
        cells = line.split("\t")
        if len(cells) == 1:  # `cut -f N` prints a line without the delimiter whole
            yield line, line
            continue
        left, right = (cells[c] if c < len(cells) else "" for c in columns)
        yield left, right


def _tmx_pairs(path: Path, langs: tuple[str, str]) -> Iterator[Pair]:
    lang_key = "{http://www.w3.org/XML/1998/namespace}lang"
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            for _, element in ElementTree.iterparse(f):
                if element.tag != "tu":
                    continue
                segments = {
                    tuv.get(lang_key, tuv.get("lang", "")).split("-")[0].lower(): tuv.findtext("seg", "")
                    for tuv in element.iter("tuv")
                }
                if all(lang in segments for lang in langs):
                    yield segments[langs[0]].strip(), segments[langs[1]].strip()
                element.clear()
    except ElementTree.ParseError as err:
        raise HatError(f"{path}: not valid TMX ({err})") from None


def _nonempty(path: Path, pairs: Iterator[Pair]) -> Iterator[Pair]:
    empty = True
    for pair in pairs:
        empty = False
        yield pair
    if empty:
        raise HatError(f"{path}: holds no sentence pairs")
