"""The offline demo task: a synthetic language pair generated from a seed.

Source grammar (SVO, words are random pseudo-words drawn from the seed):
    sentence := clause (conj clause)* "."
    clause   := NP verb [adverb] NP
    NP       := det adj{0,2} noun [prep NP']       (NP' has no PP; plural nouns end in "s")
Translation rules, so that the pair is learnable but not word-for-word:
* lexical mapping with synonyms: several source adjectives, verbs and determiners share one target
  word (many-to-one);
* local reordering: adjectives follow the noun in reverse order; prepositions become
  postpositions;
* long-range reordering: the verb moves to the end of its clause (SOV, past the object NP);
  with the subordinating conjunction the two clauses swap ("A because B" -> "B because' A");
* agreement and morphology: target nouns have a gender; determiners and adjectives agree with
  the noun's gender and number; the verb agrees with the subject's number, which the source verb
  does not mark.
The same seed always gives identical bytes (one `random.Random(seed)` drives everything).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from hat.data.config import DemoConfig
from hat.io import write_text_atomic

MIN_TOKENS, MAX_TOKENS = 5, 40
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
# target inflection suffixes
_NOUN_PLURAL = ("en", "a")  # by gender
_ADJ_SUFFIX = {(0, False): "o", (1, False): "a", (0, True): "i", (1, True): "e"}  # (gender, plural)
_VERB_SUFFIX = {False: "t", True: "n"}  # subject plural?


@dataclass(frozen=True)
class Lexicon:
    nouns: list[tuple[str, str, int]]  # (source stem, target stem, gender)
    adjectives: list[tuple[str, str]]  # source -> target stem (many-to-one)
    verbs: list[tuple[str, str]]  # source -> target stem (many-to-one)
    adverbs: list[tuple[str, str]]
    prepositions: list[tuple[str, str]]  # source preposition -> target postposition
    determiners: list[tuple[str, bool]]  # (source word, definite?); several share one meaning
    target_determiners: dict[tuple[bool, int, bool], str]  # (definite, gender, plural) -> word
    conjunctions: list[tuple[str, str, bool]]  # (source, target, subordinating?)


def make_lexicon(rng: random.Random) -> Lexicon:
    words = _WordMaker(rng)
    nouns = [(words.new(2), words.new(2), rng.randrange(2)) for _ in range(60)]
    return Lexicon(
        nouns=nouns,
        adjectives=_many_to_one(rng, words, sources=30, targets=20),
        verbs=_many_to_one(rng, words, sources=40, targets=28),
        adverbs=[(words.new(3), words.new(3)) for _ in range(12)],
        prepositions=[(words.new(1), words.new(1)) for _ in range(8)],
        determiners=[(words.new(1), True), (words.new(1), True), (words.new(1), False), (words.new(1), False)],
        target_determiners={(d, g, p): words.new(1) for d in (True, False) for g in (0, 1) for p in (False, True)},
        conjunctions=[(words.new(1), words.new(1), False), (words.new(1), words.new(1), False)]
        + [(words.new(2), words.new(2), True)],
    )


class _WordMaker:
    """Unique pseudo-words of n CV(C) syllables; a stem plus any suffix stays unique too,
    because every stem ends in a vowel and suffixes start the next syllable."""

    def __init__(self, rng: random.Random):
        self.rng, self.used = rng, set()

    def new(self, syllables: int) -> str:
        while True:
            word = "".join(self.rng.choice(_CONSONANTS) + self.rng.choice(_VOWELS) for _ in range(syllables))
            if word not in self.used:
                self.used.add(word)
                return word


def _many_to_one(rng: random.Random, words: _WordMaker, sources: int, targets: int) -> list[tuple[str, str]]:
    """`sources` source words onto `targets` target words: each target word used at least once."""
    target_words = [words.new(2) for _ in range(targets)]
    assignment = target_words + [rng.choice(target_words) for _ in range(sources - targets)]
    return [(words.new(2), target) for target in assignment]


def _noun_phrase(rng: random.Random, lex: Lexicon, allow_pp: bool) -> tuple[list[str], list[str], bool]:
    """(source tokens, target tokens, plural?) of one NP."""
    source_noun, target_noun, gender = rng.choice(lex.nouns)
    plural = rng.random() < 0.4
    det, definite = rng.choice(lex.determiners)
    adjectives = [rng.choice(lex.adjectives) for _ in range(rng.choice((0, 0, 1, 1, 2)))]
    source = [det] + [a for a, _ in adjectives] + [source_noun + ("s" if plural else "")]
    target = [lex.target_determiners[(definite, gender, plural)]]
    target.append(target_noun + (_NOUN_PLURAL[gender] if plural else ""))
    target += [t + _ADJ_SUFFIX[(gender, plural)] for _, t in reversed(adjectives)]
    if allow_pp and rng.random() < 0.35:
        prep, postp = rng.choice(lex.prepositions)
        inner_source, inner_target, _ = _noun_phrase(rng, lex, allow_pp=False)
        source += [prep] + inner_source
        target += inner_target + [postp]
    return source, target, plural


def _clause(rng: random.Random, lex: Lexicon) -> tuple[list[str], list[str]]:
    subject_source, subject_target, plural = _noun_phrase(rng, lex, allow_pp=True)
    object_source, object_target, _ = _noun_phrase(rng, lex, allow_pp=True)
    source_verb, target_verb = rng.choice(lex.verbs)
    adverb = [rng.choice(lex.adverbs)] if rng.random() < 0.3 else []
    source = subject_source + [source_verb] + [a for a, _ in adverb] + object_source
    target = subject_target + object_target + [t for _, t in adverb] + [target_verb + _VERB_SUFFIX[plural]]
    return source, target


def sentence_pair(rng: random.Random, lex: Lexicon) -> tuple[str, str]:
    """One (source, target) pair of MIN_TOKENS..MAX_TOKENS source tokens."""
    while True:
        source, target = _clause(rng, lex)
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            conj_source, conj_target, subordinating = rng.choice(lex.conjunctions)
            next_source, next_target = _clause(rng, lex)
            source = source + [conj_source] + next_source
            target = next_target + [conj_target] + target if subordinating else target + [conj_target] + next_target
        if MIN_TOKENS <= len(source) + 1 <= MAX_TOKENS:
            return " ".join(source + ["."]), " ".join(target + ["."])


def generate_demo(config: DemoConfig, out_dir: Path, langs: tuple[str, str]) -> None:
    """Write `<split>.<lang>` for every split of `config` into `out_dir` (atomically, per file).
    The test and valid pairs are distinct from each other and from train."""
    rng = random.Random(config.seed)
    lex = make_lexicon(rng)
    seen: set[str] = set()
    for split, size in config.sizes:
        pairs = []
        while len(pairs) < size:
            source, target = sentence_pair(rng, lex)
            if split == "train" or source not in seen:
                seen.add(source)
                pairs.append((source, target))
        for side, lang in enumerate(langs):
            write_text_atomic(out_dir / f"{split}.{lang}", "".join(pair[side] + "\n" for pair in pairs))
