"""The prepare pipeline on tiny fixtures: formats, each step, resume, own-corpus errors, the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from hat.cli import main as hat_main
from hat.data import fetch_raw
from hat.data.config import CleanConfig, Part, load_data_config
from hat.data.corpus import read_part
from hat.data.prepare import prepare
from hat.data.text import keep_pair
from hat.errors import HatError
from hat.tasks import BUILTIN_TASKS, load_task

FIXTURES = Path(__file__).parent / "fixtures" / "data"
DEMO_CONFIGS = Path(__file__).resolve().parents[1] / "hat" / "configs" / "demo"
LANGS = ("en", "de")


def write_task(directory: Path, data: dict, langs=LANGS) -> Path:
    """A user task.yml in `directory` with the demo design space and the given data section."""
    task = {
        "name": "own",
        "source-lang": langs[0],
        "target-lang": langs[1],
        "supertransformer": str(DEMO_CONFIGS / "supertransformer.yml"),
        "latency-space": str(DEMO_CONFIGS / "latency_dataset.yml"),
        "sentence-length": 30,
        "beam": 4,
        "lenpen": 0.6,
        "data": data,
    }
    path = directory / "task.yml"
    path.write_text(yaml.safe_dump(task))
    return path


def own_files(directory: Path) -> dict:
    return {split: {lang: str(directory / f"{split}.{lang}") for lang in LANGS} for split in ("train", "valid", "test")}


def copy_fixture_corpus(directory: Path) -> None:
    for split in ("train", "valid", "test"):
        for lang in LANGS:
            shutil.copy(FIXTURES / f"{split}.{lang}", directory / f"{split}.{lang}")


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


# ----------------------------------------------------------------------------------------------
# configs


@pytest.mark.parametrize("name", BUILTIN_TASKS)
def test_builtin_task_data_configs_parse(name):
    config = load_data_config(load_task(name))
    assert config.langs == (load_task(name).source_lang, load_task(name).target_lang)
    assert config.joined_dictionary == (name != "iwslt14deen")  # spec §8: IWSLT has separate dicts


def test_hat_choices_from_spec():
    iwslt = load_data_config(load_task("iwslt14deen"))
    assert (iwslt.bpe_merges, iwslt.valid_every_nth, iwslt.tokenize.lowercase) == (10000, 23, True)
    assert iwslt.clean == CleanConfig(min_tokens=1, max_tokens=175, ratio=1.5, after_bpe=False)
    enfr = load_data_config(load_task("wmt14enfr"))
    assert (enfr.bpe_merges, enfr.valid_every_nth, enfr.tokenize.aggressive_dash_splits) == (40000, 1333, True)
    assert enfr.clean == CleanConfig(min_tokens=1, max_tokens=250, ratio=1.5, after_bpe=True)
    ende = load_data_config(load_task("wmt14ende"))
    assert (ende.nwords, ende.bpe_merges, ende.bpe_learn_order) == (32768, 32000, ("de", "en"))
    assert ende.clean == CleanConfig(min_tokens=1, max_tokens=80, ratio=9, after_bpe=False)
    wmt19 = load_data_config(load_task("wmt19ende"))
    assert [part.format for part in wmt19.parts("train")].count("tmx") == 0
    for config, name in ((enfr, "wmt14enfr_dict.txt"), (wmt19, "wmt19ende_dict.txt")):
        assert config.fixed_dictionary.file_for("fixed") == name


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"bpe": {"merges": 10}}, "needs exactly one of 'sources'"),
        ({"demo": {"seed": 1, "train": 5, "valid": 1, "test": 1}, "bpe": {}}, r"data\.bpe needs exactly one"),
        ({"demo": {"seed": 1, "train": 5, "valid": 1}, "bpe": {"merges": 5}}, r"data\.demo\.test is missing"),
        ({"demo": {"seed": 1, "train": 5, "valid": 1, "test": 1}, "bpe": {"merges": "x"}}, "merges has the wrong"),
        (
            {"demo": {"seed": 1, "train": 5, "valid": 1, "test": 1}, "bpe": {"merges": 5}, "tokenize": {"lower": 1}},
            r"data\.tokenize has unknown key 'lower'",
        ),
        (
            {
                "sources": [{"name": "a", "url": "ftp://x/y.tgz", "sha256": None}],
                "splits": {},
                "bpe": {"merges": 5},
            },
            r"data\.sources\[0\]\.url must be an http",
        ),
        (
            {
                "sources": [{"name": "a", "url": "http://x/y.tgz", "sha256": None}],
                "splits": {"train": [{"source": "b", "files": "t.{lang}"}], "valid": [], "test": []},
                "bpe": {"merges": 5},
            },
            r"data\.splits\.train\[0\]\.source names unknown source 'b'",
        ),
        (
            {"demo": {"seed": 1, "train": 5, "valid": 1, "test": 1}, "bpe": {"merges": 5, "learn-on": ["en"]}},
            r"data\.bpe\.learn-on must list the languages en, de",
        ),
        (
            {
                "demo": {"seed": 1, "train": 5, "valid": 1, "test": 1},
                "bpe": {"merges": 5},
                "dictionary": {"fixed": {"source": "nowhere", "file": "dict.txt"}},
            },
            r"data\.dictionary\.fixed\.source names unknown source 'nowhere'",
        ),
    ],
)
def test_config_errors_name_the_key(tmp_path, data, message):
    task = write_task(tmp_path, data)
    with pytest.raises(HatError, match=message) as err:
        load_data_config(load_task(task))
    assert str(task) in str(err.value)


# ----------------------------------------------------------------------------------------------
# formats and text steps


def test_sgm_segments_are_extracted_with_tags_stripped():
    part = Part(source="fixtures", files=(("en", "test.en.sgm"), ("de", "test.de.sgm")), format="sgm")
    pairs = list(read_part(part, FIXTURES, LANGS))
    assert pairs[0] == ("The museum's opens at ten.", "Das Museum öffnet um zehn.")
    assert len(pairs) == 3


def test_ted_tags_drop_metadata_lines_and_strip_title_tags():
    part = Part(source="f", files=(("en", "train.tags.en"), ("de", "train.tags.de")), format="ted-tags")
    pairs = list(read_part(part, FIXTURES, LANGS))
    assert pairs[:2] == [("Title en", "Title de"), ("About en", "About de")]
    assert pairs[2:] == list(zip(lines(FIXTURES / "train.en")[:4], lines(FIXTURES / "train.de")[:4], strict=True))


def test_tsv_and_tmx():
    expected = list(zip(lines(FIXTURES / "train.en")[:3], lines(FIXTURES / "train.de")[:3], strict=True))
    tsv = Part(
        source="f", files=(("en", "corpus.tsv"), ("de", "corpus.tsv")), format="tsv", columns=(("en", 1), ("de", 0))
    )
    tmx = Part(source="f", files=(("en", "corpus.tmx"), ("de", "corpus.tmx")), format="tmx")
    assert list(read_part(tsv, FIXTURES, LANGS)) == expected
    assert list(read_part(tmx, FIXTURES, LANGS)) == expected


def test_tsv_reads_columns_as_cut_does(tmp_path):
    """HAT split its TSVs with `cut -f1` / `cut -f2`: a line without a tab is every column."""
    (tmp_path / "c.tsv").write_text("a de\ta en\nno tab here\nonly de\t\n", encoding="utf-8")
    tsv = Part(source="f", files=(("en", "c.tsv"), ("de", "c.tsv")), format="tsv", columns=(("en", 1), ("de", 0)))
    assert list(read_part(tsv, tmp_path, LANGS)) == [("a en", "a de"), ("no tab here", "no tab here"), ("", "only de")]


def test_input_from_sgm_keeps_the_typographic_apostrophe_that_hats_sed_replaces(tmp_path):
    for lang in LANGS:
        (tmp_path / f"t.{lang}.sgm").write_text(f'<doc>\n<seg id="1">  it’s  {lang} </seg>\n</doc>\n', encoding="utf-8")
    files = tuple((lang, f"t.{lang}.sgm") for lang in LANGS)
    assert list(read_part(Part("f", files, format="input-from-sgm"), tmp_path, LANGS)) == [("it’s en", "it’s de")]
    assert list(read_part(Part("f", files, format="sgm"), tmp_path, LANGS)) == [("it's en", "it's de")]


def test_clean_corpus_n_rule():
    config = CleanConfig(min_tokens=1, max_tokens=4, ratio=1.5, after_bpe=False)
    assert keep_pair("a b", "c d e", config)  # 3 <= 1.5 * 2
    assert not keep_pair("a b", "c d e f", config)  # ratio 2
    assert not keep_pair("a b c d e", "a b c d e", config)  # too long
    assert not keep_pair("", "a", config)  # empty


# ----------------------------------------------------------------------------------------------
# the whole pipeline


@pytest.fixture(scope="module")
def tiny_prepared(tmp_path_factory):
    """The fixture corpus (tasks/fixtures/data/task.yml) downloaded (linked) and prepared."""
    root = tmp_path_factory.mktemp("tiny")
    config = load_data_config(load_task(FIXTURES / "task.yml"))
    fetch_raw(config, root / "raw")
    prepare(config, root / "raw", root / "out", threads=2)
    return config, root


def test_prepare_produces_a_fairseq_data_dir(tiny_prepared):
    _, root = tiny_prepared
    out = root / "out"
    for split in ("train", "valid", "test"):
        for lang in LANGS:
            for ext in ("bin", "idx"):
                assert (out / f"{split}.en-de.{lang}.{ext}").is_file()
    # joined dictionary (the demo space shares all embeddings)
    assert (out / "dict.en.txt").read_text() == (out / "dict.de.txt").read_text()
    assert (out / "bpe.codes").read_text().startswith("#version")
    # tokenized, pre-BPE reference: Moses split the final period
    assert lines(out / "test.ref.de") == [
        "Das Museum öffnet um zehn .",
        "Wir reisen morgen nach Paris .",
        "Der Fluss fließt zum Meer .",
    ]
    from fairseq.data import Dictionary, data_utils

    dictionary = Dictionary.load(str(out / "dict.de.txt"))
    dataset = data_utils.load_indexed_dataset(str(out / "test.en-de.de"), dictionary)
    assert len(dataset) == 3
    assert dictionary.string(dataset[2]).replace("@@ ", "") == "Der Fluss fließt zum Meer ."


def test_prepare_text_steps(tiny_prepared):
    _, root = tiny_prepared
    text = root / "out" / "text"
    assert lines(text / "tok.train.en")[2] == "We like well @-@ known songs ."  # Moses -a
    bpe_train = lines(text / "final.train.en")
    assert len(bpe_train) == 14 and "@@ " in " ".join(bpe_train)
    assert [line.replace("@@ ", "") for line in bpe_train] == lines(text / "tok.train.en")


def test_rerun_skips_finished_steps(tiny_prepared, monkeypatch):
    config, root = tiny_prepared
    before = {p.name: p.stat().st_mtime_ns for p in (root / "out").iterdir() if p.is_file()}

    def fail(*args, **kwargs):
        raise AssertionError("a finished step ran again")

    monkeypatch.setattr("hat.data.prepare.map_lines", fail)
    monkeypatch.setattr("hat.data.binarize.binarize", fail)
    prepare(config, root / "raw", root / "out", threads=1)
    after = {p.name: p.stat().st_mtime_ns for p in (root / "out").iterdir() if p.is_file()}
    assert before == after


def test_interrupted_prepare_resumes_from_the_failed_step(tmp_path, monkeypatch):
    copy_fixture_corpus(tmp_path)
    task = write_task(tmp_path, {"files": own_files(tmp_path), "bpe": {"merges": 30}, "tokenize": {"moses": False}})
    config = load_data_config(load_task(task))
    fetch_raw(config, tmp_path / "raw")

    def crash(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr("hat.data.prepare.learn_joint_bpe", crash)
    with pytest.raises(RuntimeError):
        prepare(config, tmp_path / "raw", tmp_path / "out", threads=1)
    done = sorted(p.name for p in (tmp_path / "out" / ".steps").glob("*.done"))
    assert done == ["extract.done", "split.done", "tokenize.done"]
    monkeypatch.undo()
    calls = []
    monkeypatch.setattr("hat.data.prepare.read_part", lambda *a: calls.append(a) or iter(()))
    prepare(config, tmp_path / "raw", tmp_path / "out", threads=1)
    assert calls == []  # extract was not redone
    assert (tmp_path / "out" / "train.en-de.de.bin").is_file()


def test_holdout_and_clean_before_bpe(tmp_path):
    copy_fixture_corpus(tmp_path)
    (tmp_path / "train.en").write_text("".join(f"w{i} x y\n" for i in range(1, 13)) + "a b c d e f g h\n")
    (tmp_path / "train.de").write_text("".join(f"v{i} x y\n" for i in range(1, 13)) + "a\n")
    data = {
        "sources": [{"name": "mine", "url": "http://127.0.0.1:9/mine.tgz", "sha256": None}],
        "splits": {
            "train": [{"source": "mine", "files": "train.{lang}"}],
            "valid": {"every-nth-of-train": 4},
            "test": [{"source": "mine", "files": "test.{lang}"}],
        },
        "tokenize": {"moses": False, "normalize": False, "lowercase": True},
        "clean": {"min-tokens": 1, "max-tokens": 10, "ratio": 1.5, "when": "before-bpe"},
        "bpe": {"merges": 20},
    }
    config = load_data_config(load_task(write_task(tmp_path, data)))
    raw = tmp_path / "raw"
    shutil.copytree(tmp_path, raw / "mine", ignore=shutil.ignore_patterns("raw"))
    prepare(config, raw, tmp_path / "out", threads=1)
    text = tmp_path / "out" / "text"
    # line 13 fails the ratio filter; then every 4th remaining line is valid
    assert lines(text / "pre.valid.en") == ["w4 x y", "w8 x y", "w12 x y"]
    assert len(lines(text / "pre.train.en")) == 9
    assert lines(tmp_path / "out" / "test.ref.de")[0] == "das museum öffnet um zehn."


# ----------------------------------------------------------------------------------------------
# own-corpus errors and the CLI


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: (d / "valid.de").write_text("one\ntwo\n"),
            r"valid\.en: line 3 has no counterpart: .*valid\.de ends after 2",
        ),
        (lambda d: (d / "test.en").write_text(""), r"test\.de: line 1 has no counterpart: .*test\.en ends after 0"),
        (lambda d: ((d / "test.en").write_text(""), (d / "test.de").write_text("")), r"test\.en: file is empty"),
        (
            lambda d: (d / "train.de").write_bytes(b"gut\nschlecht \xff\n" + b"x\n" * 12),
            r"train\.de: line 2: not UTF-8",
        ),
        (lambda d: (d / "train.en").unlink(), r"train\.en: file not found"),
    ],
)
def test_own_corpus_errors_name_file_and_line(tmp_path, damage, message):
    copy_fixture_corpus(tmp_path)
    damage(tmp_path)
    task = write_task(tmp_path, {"files": own_files(tmp_path), "bpe": {"merges": 30}})
    with pytest.raises(HatError, match=message):
        fetch_raw(load_data_config(load_task(task)), tmp_path / "raw")


def test_cli_reports_errors_in_one_line(tmp_path, capsys):
    copy_fixture_corpus(tmp_path)
    (tmp_path / "valid.de").write_text("one\n")
    task = write_task(tmp_path, {"files": own_files(tmp_path), "bpe": {"merges": 30}})
    code = hat_main(["data", "download", "--task", str(task), "--out-dir", str(tmp_path / "raw")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("hat: error: ") and err.count("\n") == 1 and "valid.en: line 2" in err


def test_cli_download_offline_demo(tmp_path, capsys):
    assert hat_main(["data", "download", "--task", "demo", "--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / "demo" / "test.tgt").is_file()


def test_cli_offline_download_names_url_and_manual_path(tmp_path, capsys):
    url = "http://127.0.0.1:9/corpus.tgz"  # discard port: nothing listens
    data = {
        "sources": [{"name": "mine", "url": url, "sha256": None}],
        "splits": {split: [{"source": "mine", "files": f"{split}.{{lang}}"}] for split in ("train", "valid", "test")},
        "bpe": {"merges": 10},
    }
    task = write_task(tmp_path, data)
    code = hat_main(["data", "download", "--task", str(task), "--out-dir", str(tmp_path / "raw")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert url in err and f"place it at {(tmp_path / 'raw' / 'corpus.tgz').resolve()}" in err
