"""A tiny fairseq-binarized parallel corpus for training/validation/evaluation tests.

The "language" pair is a word-for-word cipher (source word sN <-> target word tN, same order),
so a model of the demo space learns it within a few hundred updates; sentences hold 3-8 words of
a 24-word vocabulary. Binarized with fairseq's own preprocess (joined dictionary, as the demo
task's shared embeddings need), languages `src`/`tgt` as the demo task.
"""

from __future__ import annotations

import random
from pathlib import Path

VOCAB = 24
SPLITS = {"train": 600, "valid": 40, "test": 20}


def cipher_pair(rng: random.Random) -> tuple[str, str]:
    words = [rng.randrange(VOCAB) for _ in range(rng.randint(3, 8))]
    return " ".join(f"s{w}" for w in words), " ".join(f"t{w}" for w in words)


def write_text_corpus(text_dir: Path, seed: int = 0) -> None:
    rng = random.Random(seed)
    text_dir.mkdir(parents=True, exist_ok=True)
    for split, count in SPLITS.items():
        pairs = [cipher_pair(rng) for _ in range(count)]
        (text_dir / f"{split}.src").write_text("".join(src + "\n" for src, _ in pairs))
        (text_dir / f"{split}.tgt").write_text("".join(tgt + "\n" for _, tgt in pairs))


def build_binarized_corpus(root: Path) -> Path:
    """Write the text corpus under root/text and binarize it into root/bin (returned)."""
    from fairseq import options
    from fairseq_cli.preprocess import main as preprocess

    text_dir, bin_dir = root / "text", root / "bin"
    write_text_corpus(text_dir)
    parser = options.get_preprocessing_parser()
    args = parser.parse_args(
        [
            "--source-lang",
            "src",
            "--target-lang",
            "tgt",
            "--joined-dictionary",
            "--workers",
            "1",
            "--trainpref",
            str(text_dir / "train"),
            "--validpref",
            str(text_dir / "valid"),
            "--testpref",
            str(text_dir / "test"),
            "--destdir",
            str(bin_dir),
        ]
    )
    preprocess(args)
    return bin_dir
