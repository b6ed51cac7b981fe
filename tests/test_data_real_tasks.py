"""The four real tasks' data, download -> prepare -> binarize, on miniatures of every remote archive.

Each archive is rebuilt here in the layout the public scripts read (HAT's configs/*/preprocess.sh,
google/seq2seq's bin/data/wmt16_en_de.sh, fairseq's prepare-iwslt14.sh): the same archive
format, member paths and file formats (plain text, sgm, TED xml, tsv), with decoy members the
task must not read. The layouts are written down here independently of the task.yml files, so a
wrong member path, format or column in a task.yml fails. They are served from a local HTTP
server on 127.0.0.1 under the real URL's host and path; the task.yml is the built-in one with
only each URL's scheme and host replaced.

Every sentence starts with a tag naming its corpus (and set), so the tests can read back which
files made train/valid/test and in which order. What cannot be checked here (the real archives'
checksums and sizes, HAT's real dictionaries) is listed in docs/data.md.
"""

from __future__ import annotations

import gzip
import http.server
import io
import shutil
import tarfile
import threading
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from hat.data import fetch_raw
from hat.data.config import load_data_config
from hat.data.prepare import prepare, use_preprocessed
from hat.tasks import CONFIG_ROOT, load_task

QUOTED = {"en": "“quoted” it’s", "de": "„zitiert“ es’s", "fr": "« cité » c’est"}


def sentences(tag: str, lang: str, count: int) -> list[str]:
    """`count` distinct lines of `tag`, each with the language's typographic quotes and ’."""
    return [f"{tag} {lang} line{i} {QUOTED[lang]} ." for i in range(1, count + 1)]


def sgm(tag: str, lang: str, count: int) -> str:
    """A WMT sgm file: a header, one <seg> per sentence inside <doc>/<p>."""
    segs = "".join(f'<seg id="{i}">{line}</seg>\n' for i, line in enumerate(sentences(tag, lang, count), 1))
    header = f'<srcset setid="{tag}" srclang="any">\n<doc sysid="ref" docid="d1" genre="news">\n<p>\n'
    return header + segs + "</p>\n</doc>\n</srcset>\n"


def ted_xml(tag: str, lang: str, count: int) -> str:
    segs = "".join(f'<seg id="{i}"> {line} </seg>\n' for i, line in enumerate(sentences(tag, lang, count), 1))
    header = f'<?xml version="1.0" encoding="UTF-8"?>\n<mteval>\n<refset setid="{tag}">\n<doc docid="1">\n'
    return header + segs + "</doc>\n</refset>\n</mteval>\n"


def ted_tags(lang: str, count: int) -> str:
    """IWSLT's train.tags.de-en.<lang>: metadata lines around the transcript lines."""
    meta = "<url>http://www.ted.com/talks/x</url>\n<keywords>talks</keywords>\n<talkid>1</talkid>\n"
    title = f"<title>iwslt-train {lang} title</title>\n"
    return meta + title + "".join(line + "\n" for line in sentences("iwslt-train", lang, count))


def text(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def tsv(tag: str, first: str, second: str, count: int) -> str:
    return text([f"{a}\t{b}" for a, b in zip(sentences(tag, first, count), sentences(tag, second, count))])


def pair(prefix: str, tag: str, langs: tuple[str, str], count: int) -> dict[str, str]:
    return {f"{prefix}.{lang}": text(sentences(tag, lang, count)) for lang in langs}


def dictionary(words: list[str]) -> str:
    """A fairseq dict.txt in HAT's style, with counts no corpus here would give."""
    return "".join(f"{word} {1000 - i}\n" for i, word in enumerate(words))


ENDE, ENFR = ("en", "de"), ("en", "fr")
LONG_LINE = {lang: " ".join(["commoncrawl"] * 81) for lang in ENDE}  # clean-corpus-n 1-80 drops it
# One archive (training-parallel-commoncrawl.tgz) that three tasks read different members of.
COMMONCRAWL = (
    "tgz",
    {
        **{f"commoncrawl.de-en.{lang}": text([*sentences("commoncrawl", lang, 5), LONG_LINE[lang]]) for lang in ENDE},
        **pair("commoncrawl.fr-en", "commoncrawl", ENFR, 300),
        **{f"commoncrawl.ru-en.{lang}": "decoy\n" for lang in ("en", "ru")},
    },
)

# url -> (archive kind, {member path: content}); kinds: tgz, tar, zip, gz, plain.
ARCHIVES = {
    "wmt14ende": {
        "http://www.statmt.org/europarl/v7/de-en.tgz": ("tgz", pair("europarl-v7.de-en", "europarl", ENDE, 6)),
        "http://www.statmt.org/wmt13/training-parallel-commoncrawl.tgz": COMMONCRAWL,
        "http://data.statmt.org/wmt16/translation-task/training-parallel-nc-v11.tgz": (
            "tgz",
            pair("training-parallel-nc-v11/news-commentary-v11.de-en", "nc11", ENDE, 4),
        ),
        "http://data.statmt.org/wmt16/translation-task/dev.tgz": (
            "tgz",
            {
                **pair("dev/newstest2012", "newstest2012", ENDE, 3),
                **pair("dev/newstest2013", "newstest2013", ENDE, 5),
                "dev/newstest2014-deen-src.de.sgm": sgm("newstest2014", "de", 7),
                "dev/newstest2014-deen-ref.en.sgm": sgm("newstest2014", "en", 7),
                "dev/newstest2015-deen-src.de.sgm": sgm("newstest2015", "de", 2),
                "dev/newstest2015-deen-ref.en.sgm": sgm("newstest2015", "en", 2),
            },
        ),
    },
    "wmt14enfr": {
        "http://statmt.org/wmt13/training-parallel-europarl-v7.tgz": (
            "tgz",
            {
                **pair("training/europarl-v7.fr-en", "europarl", ENFR, 700),
                **pair("training/europarl-v7.de-en", "decoy", ENDE, 2),
            },
        ),
        "http://statmt.org/wmt13/training-parallel-commoncrawl.tgz": COMMONCRAWL,
        "http://statmt.org/wmt13/training-parallel-un.tgz": ("tgz", pair("un/undoc.2000.fr-en", "un", ENFR, 200)),
        "http://statmt.org/wmt14/training-parallel-nc-v9.tgz": (
            "tgz",
            pair("training/news-commentary-v9.fr-en", "nc9", ENFR, 200),
        ),
        "http://statmt.org/wmt10/training-giga-fren.tar": (
            "tar",
            {
                f"giga-fren.release2.fixed.{lang}.gz": gzip.compress(text(sentences("giga", lang, 300)).encode())
                for lang in ENFR
            },
        ),  # fmt: skip
        "http://statmt.org/wmt14/test-full.tgz": (
            "tgz",
            {
                "test-full/newstest2014-fren-src.en.sgm": sgm("newstest2014", "en", 6),
                "test-full/newstest2014-fren-ref.fr.sgm": sgm("newstest2014", "fr", 6),
                "test-full/newstest2014-deen-src.en.sgm": sgm("decoy", "en", 2),
            },
        ),
        "https://www.dropbox.com/s/sgx2z11oo5mgube/wmt14enfr_dict.txt?dl=1": (
            "plain",
            {"wmt14enfr_dict.txt": dictionary(["the", "line@@", "fixed-enfr-word", "«", "»", "."])},
        ),
    },
    "wmt19ende": {
        "https://s3.amazonaws.com/web-language-models/paracrawl/release3/en-de.bicleaner07.txt.gz": (
            "gz",
            {"en-de.bicleaner07.txt": tsv("paracrawl", "en", "de", 5)},
        ),
        "http://data.statmt.org/news-commentary/v14/training/news-commentary-v14.de-en.tsv.gz": (
            "gz",
            {"news-commentary-v14.de-en.tsv": tsv("nc14", "de", "en", 4)},
        ),
        "http://data.statmt.org/wikititles/v1/wikititles-v1.de-en.tsv.gz": (
            "gz",
            {"wikititles-v1.de-en.tsv": tsv("wikititles", "de", "en", 3)},
        ),
        "http://www.statmt.org/europarl/v9/training/europarl-v9.de-en.tsv.gz": (
            "gz",
            {"europarl-v9.de-en.tsv": tsv("europarl", "de", "en", 4)},
        ),
        "http://www.statmt.org/wmt13/training-parallel-commoncrawl.tgz": COMMONCRAWL,
        "https://s3-eu-west-1.amazonaws.com/tilde-model/rapid2019.de-en.zip": (
            "zip",
            pair("rapid2019.de-en", "rapid", ENDE, 3),
        ),
        "http://data.statmt.org/wmt19/translation-task/dev.tgz": (
            "tgz",
            {
                "dev/newstest2016-ende-src.en.sgm": sgm("newstest2016", "en", 2),
                "dev/newstest2016-ende-ref.de.sgm": sgm("newstest2016", "de", 2),
                "dev/newstest2017-ende-src.en.sgm": sgm("newstest2017", "en", 4),
                "dev/newstest2017-ende-ref.de.sgm": sgm("newstest2017", "de", 4),
                "dev/newstest2018-ende-src.en.sgm": sgm("newstest2018", "en", 5),
                "dev/newstest2018-ende-ref.de.sgm": sgm("newstest2018", "de", 5),
            },
        ),
        "https://www.dropbox.com/s/u9h8ns6xe8ux91d/wmt19ende_dict.txt?dl=1": (
            "plain",
            {"wmt19ende_dict.txt": dictionary(["the", "line@@", "fixed-wmt19-word", "„", "“", "."])},
        ),
    },
    "iwslt14deen": {
        "http://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz": (
            "tgz",
            {
                **{f"de-en/train.tags.de-en.{lang}": ted_tags(lang, 50) for lang in ("de", "en")},
                **{
                    f"de-en/IWSLT14.{name}.de-en.{lang}.xml": ted_xml(name.split(".")[1], lang, 2)
                    for name in ("TED.dev2010", "TEDX.dev2012", "TED.tst2010", "TED.tst2011", "TED.tst2012")
                    for lang in ("de", "en")
                },
                **{f"de-en/IWSLT14.TEDX.tst2013.de-en.{lang}.xml": ted_xml("decoy", lang, 2) for lang in ("de", "en")},
            },
        ),
    },
}

# What each split is made of, in order: (tag, number of lines) as read from raw.<split>.<src>.
COMPOSITION = {
    "wmt14ende": {
        "train": [("europarl", 6), ("commoncrawl", 6), ("nc11", 4)],
        "valid": [("newstest2013", 5)],
        "test": [("newstest2014", 7)],
    },
    "wmt14enfr": {
        "train": [("europarl", 700), ("commoncrawl", 300), ("un", 200), ("nc9", 200), ("giga", 300)],
        "test": [("newstest2014", 6)],
    },
    "wmt19ende": {
        "train": [("paracrawl", 5), ("nc14", 4), ("wikititles", 3), ("europarl", 4), ("commoncrawl", 6), ("rapid", 3)],
        "valid": [("newstest2017", 4)],
        "test": [("newstest2018", 5)],
    },
    "iwslt14deen": {
        "train": [("iwslt-train", 51)],  # the title line is kept (tags stripped), as fairseq's script does
        "test": [("dev2010", 2), ("dev2012", 2), ("tst2010", 2), ("tst2011", 2), ("tst2012", 2)],
    },
}


def archive_bytes(kind: str, members: dict[str, str | bytes]) -> bytes:
    data = {name: content if isinstance(content, bytes) else content.encode() for name, content in members.items()}
    if kind == "plain":
        return next(iter(data.values()))
    if kind == "gz":
        return gzip.compress(next(iter(data.values())))
    buffer = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w") as zipped:
            for name, content in data.items():
                zipped.writestr(name, content)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz" if kind == "tgz" else "w") as tar:
            for name, content in data.items():
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def local_path(url: str) -> str:
    """The path a real URL is served under locally: /<host><path>[?query]."""
    parsed = urlparse(url)
    return f"/{parsed.netloc}{parsed.path}" + (f"?{parsed.query}" if parsed.query else "")


# local path -> bytes the server answers with (tests may add files)
SERVED = {local_path(url): archive_bytes(*spec) for archives in ARCHIVES.values() for url, spec in archives.items()}


@pytest.fixture(scope="module")
def server():
    files = SERVED

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            if self.path not in files:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(files[self.path])))
            self.end_headers()
            self.wfile.write(files[self.path])

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def local_task(name: str, server: str, directory: Path) -> Path:
    """The built-in task's files with each source URL pointed at the local server."""
    shutil.copytree(CONFIG_ROOT / name, directory)
    task_file = directory / "task.yml"
    values = yaml.safe_load(task_file.read_text())
    for source in values["data"]["sources"]:
        assert source["url"] in ARCHIVES[name], f"{name}: source {source['url']} has no miniature here"
        source["url"] = server + local_path(source["url"])
    assert len(values["data"]["sources"]) == len(ARCHIVES[name]), f"{name}: an archive here is not a source"
    values["data"]["preprocessed"]["url"] = server + local_path(values["data"]["preprocessed"]["url"])
    task_file.write_text(yaml.safe_dump(values, allow_unicode=True))
    return task_file


@pytest.fixture(scope="module")
def prepared(server, tmp_path_factory):
    """name -> (data config, raw dir, out dir), each task downloaded and prepared once."""
    cache = {}

    def get(name: str):
        if name not in cache:
            root = tmp_path_factory.mktemp(name)
            config = load_data_config(load_task(local_task(name, server, root / "task")))
            fetch_raw(config, root / "raw")
            prepare(config, root / "raw", root / "data", threads=1)
            cache[name] = (config, root / "raw", root / "data")
        return cache[name]

    return get


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def runs(tagged_lines: list[str]) -> list[tuple[str, int]]:
    """Consecutive lines with the same first word, as (tag, count)."""
    result: list[tuple[str, int]] = []
    for line in tagged_lines:
        tag = line.split()[0].lower()
        if result and result[-1][0] == tag:
            result[-1] = (tag, result[-1][1] + 1)
        else:
            result.append((tag, 1))
    return result


REAL_TASKS = list(ARCHIVES)


@pytest.mark.parametrize("name", REAL_TASKS)
def test_splits_are_made_of_the_right_files_in_order(prepared, name):
    config, _, data = prepared(name)
    src = config.source_lang
    for split, expected in COMPOSITION[name].items():
        assert runs(lines(data / "text" / f"raw.{split}.{src}")) == expected, split
    for binary in ("train", "valid", "test"):
        for lang in config.langs:
            assert (data / f"{binary}.{src}-{config.target_lang}.{lang}.bin").stat().st_size > 0


@pytest.mark.parametrize("name", REAL_TASKS)
def test_test_references_are_tokenized_but_not_normalized(prepared, name):
    """HAT tokenizes test sets without normalize-punctuation (its scripts pipe only train text
    through it), so typographic quotes stay; train text is normalized where the task says so."""
    config, _, data = prepared(name)
    tgt = config.target_lang
    reference = lines(data / f"test.ref.{tgt}")
    raw_test = lines(data / "text" / f"raw.test.{tgt}")
    assert len(reference) == len(raw_test)
    first_quote = QUOTED[tgt][0]
    assert first_quote in reference[0]
    assert reference[0].split()[-1] == "."  # tokenized: the full stop is a token of its own
    # input-from-sgm keeps ’; HAT's sed makes it ', which the Moses tokenizer escapes
    apostrophe = "’" if name == "wmt14ende" else "&apos;"
    assert apostrophe in reference[0], reference[0]
    train = (data / "text" / f"tok.train.{tgt}").read_text(encoding="utf-8")
    normalized = config.tokenize.normalize
    assert (first_quote in train) != normalized
    if config.tokenize.lowercase:
        assert reference[0] == reference[0].lower()


@pytest.mark.parametrize("name", ["wmt14enfr", "wmt19ende"])
def test_hats_fixed_dictionary_is_used_unchanged(prepared, name):
    config, raw, data = prepared(name)
    fixed = raw / config.fixed_dictionary.source / config.fixed_dictionary.file_for("fixed")
    for lang in config.langs:
        assert (data / f"dict.{lang}.txt").read_bytes() == fixed.read_bytes()


def test_wmt14ende_rebuilds_googles_bundle(prepared):
    """google/seq2seq's wmt16_en_de.sh: clean-corpus-n 1 80 on train only; one joined dictionary."""
    config, _, data = prepared("wmt14ende")
    assert max(len(line.split()) for line in lines(data / "text" / "raw.train.en")) == 81
    assert max(len(line.split()) for line in lines(data / "text" / "pre.train.en")) <= 80
    assert len(lines(data / "text" / "pre.train.en")) == 6 + 5 + 4
    assert (data / "dict.en.txt").read_bytes() == (data / "dict.de.txt").read_bytes()
    assert config.nwords == 32768 and config.bpe_merges == 32000 and config.bpe_learn_order == ("de", "en")
    assert not config.tokenize.aggressive_dash_splits and not config.tokenize.normalize


def test_iwslt_valid_is_every_23rd_cleaned_train_line(prepared):
    _, _, data = prepared("iwslt14deen")
    cleaned = lines(data / "text" / "clean.train.de")
    assert lines(data / "text" / "pre.valid.de") == [cleaned[22], cleaned[45]]
    assert len(lines(data / "text" / "pre.train.de")) == len(cleaned) - 2


def test_wmt14enfr_valid_is_every_1333rd_train_line(prepared):
    _, _, data = prepared("wmt14enfr")
    train = lines(data / "text" / "tok.train.en")
    assert lines(data / "text" / "pre.valid.en") == [train[1332]]


def test_hats_preprocessed_bundle_is_used_as_it_is(prepared, server, tmp_path):
    """The second source (HAT's get_preprocessed.sh): its binarized files, wherever they lie in
    the archive, become the data dir unchanged. The bundle here is made of files binarized above."""
    _, _, data = prepared("wmt14ende")
    names = sorted(p.name for p in data.iterdir() if p.suffix in (".bin", ".idx") or p.name.startswith("dict."))
    assert len(names) == 2 + 3 * 2 * 2
    url = yaml.safe_load((CONFIG_ROOT / "wmt14ende" / "task.yml").read_text())["data"]["preprocessed"]["url"]
    SERVED[local_path(url)] = archive_bytes(
        "tgz", {f"wmt16_en_de/{name}": (data / name).read_bytes() for name in names}
    )
    config = load_data_config(load_task(local_task("wmt14ende", server, tmp_path / "task")))
    fetch_raw(config, tmp_path / "raw", preprocessed=True)
    assert sorted(p.name for p in (tmp_path / "raw").iterdir() if not p.name.startswith(".")) == [
        "hat-preprocessed", "manifest.json", "wmt16_en_de.preprocessed.tgz"
    ]  # fmt: skip
    use_preprocessed(config, tmp_path / "raw", tmp_path / "data")
    for name in names:
        assert (tmp_path / "data" / name).read_bytes() == (data / name).read_bytes()
    assert (tmp_path / "data" / "manifest.json").is_file()


def test_workflow_data_source_hat_preprocessed_reaches_both_data_commands(tmp_path):
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    override = tmp_path / "override.yaml"
    override.write_text("tasks: {iwslt14deen: {data_source: hat-preprocessed}}\n")
    command = [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(repo / "Snakefile")]
    command += ["--directory", str(tmp_path), "results/iwslt14deen/data/manifest.json", "--dry-run", "--printshellcmds"]
    result = subprocess.run([*command, "--configfile", str(override)], capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    shells = [line for line in output.splitlines() if line.startswith("Shell command: hat data")]
    assert len(shells) == 2 and all(line.split(">")[0].rstrip().endswith("--preprocessed") for line in shells), shells
