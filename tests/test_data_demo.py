"""The offline demo generator: determinism, sizes, lengths and the translation rules."""

from __future__ import annotations

import random
from pathlib import Path

from hat.data import fetch_raw
from hat.data.config import DemoConfig, load_data_config
from hat.data.demo import MAX_TOKENS, MIN_TOKENS, generate_demo, make_lexicon, sentence_pair
from hat.tasks import load_task

SMALL = DemoConfig(seed=7, sizes=(("train", 300), ("valid", 40), ("test", 40)))
LANGS = ("src", "tgt")


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_same_seed_identical_bytes_other_seed_differs(tmp_path):
    generate_demo(SMALL, tmp_path / "a", LANGS)
    generate_demo(SMALL, tmp_path / "b", LANGS)
    generate_demo(DemoConfig(seed=8, sizes=SMALL.sizes), tmp_path / "c", LANGS)
    first = _files(tmp_path / "a")
    assert sorted(first) == [f"{s}.{lang}" for s in ("test", "train", "valid") for lang in LANGS]
    assert first == _files(tmp_path / "b")
    assert first["train.src"] != _files(tmp_path / "c")["train.src"]


def test_sizes_lengths_and_held_out_sentences_are_new(tmp_path):
    generate_demo(SMALL, tmp_path, LANGS)
    lines = {name: path.read_text().splitlines() for name, path in ((p.name, p) for p in tmp_path.iterdir())}
    for split, size in SMALL.sizes:
        assert len(lines[f"{split}.src"]) == len(lines[f"{split}.tgt"]) == size
    assert all(MIN_TOKENS <= len(line.split()) <= MAX_TOKENS for line in lines["train.src"])
    train = set(lines["train.src"])
    assert not train & set(lines["valid.src"]) and not train & set(lines["test.src"])
    assert not set(lines["valid.src"]) & set(lines["test.src"])


def test_translation_is_not_word_for_word():
    rng = random.Random(3)
    lex = make_lexicon(rng)
    # many-to-one: more source than target adjectives/verbs
    assert len({s for s, _ in lex.adjectives}) > len({t for _, t in lex.adjectives})
    assert len({s for s, _ in lex.verbs}) > len({t for _, t in lex.verbs})
    # long-range reordering + agreement: every target clause ends in an inflected verb (SOV),
    # while the source verb stands before its object (SVO), so no source sentence ends in a verb
    source_verbs = {s for s, _ in lex.verbs}
    inflected_verbs = {t + suffix for _, t in lex.verbs for suffix in ("t", "n")}
    for _ in range(200):
        source, target = sentence_pair(rng, lex)
        assert target.split()[-2] in inflected_verbs
        assert source.split()[-2] not in source_verbs


def test_vocabulary_is_modest(tmp_path):
    generate_demo(SMALL, tmp_path, LANGS)
    words = {word for name in ("train.src", "train.tgt") for word in (tmp_path / name).read_text().split()}
    assert 150 < len(words) < 1000


def test_demo_task_config_generates_the_full_corpus_quickly(tmp_path):
    config = load_data_config(load_task("demo"))
    assert dict(config.demo.sizes) == {"train": 20000, "valid": 1000, "test": 1000}
    fetch_raw(config, tmp_path)
    assert len((tmp_path / "demo" / "train.src").read_text().splitlines()) == 20000
