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


# Settings that make the demo space train in seconds on the cipher corpus (5 updates per epoch).
FAST_TRAINING = {"max-tokens": "1024", "warmup-updates": "2", "lr": "0.005"}


def session_dir(tmp_path_factory, name: str, build) -> Path:
    """`build(dir)` once per pytest session, shared by every test module (a marker file says done)."""
    directory = tmp_path_factory.getbasetemp() / name
    if not (directory / ".done").exists():
        directory.mkdir(parents=True, exist_ok=True)
        build(directory)
        (directory / ".done").touch()
    return directory


def corpus_dir(tmp_path_factory) -> Path:
    return session_dir(tmp_path_factory, "hat_train_corpus", build_binarized_corpus) / "bin"


def trained_supernet(tmp_path_factory, max_update: int = 10) -> Path:
    """A demo-space supernet trained for `max_update` updates on the cipher corpus: its save dir."""
    from hat.tasks import load_task
    from hat.train import train_supernet

    data = corpus_dir(tmp_path_factory)

    def build(save_dir: Path) -> None:
        train_supernet(load_task("demo"), data, save_dir, {**FAST_TRAINING, "max-update": str(max_update)}, cpu=True)

    return session_dir(tmp_path_factory, f"hat_train_supernet{max_update}", build)
