"""Real text and fairseq acceptance: Multi30k through the own-corpus path, and the demo task, end as
binarized directories that fairseq's loader and `fairseq-train` accept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_data_prepare import write_task

from hat.data import fetch_raw
from hat.data.config import load_data_config
from hat.data.prepare import prepare
from hat.tasks import load_task

MULTI30K = Path(__file__).resolve().parents[1].parent / "shared" / "real-corpus" / "multi30k"
SUBSET_LINES = {"train": 3000, "valid": 500, "test": 500}
MULTI30K_FILES = {"train": "train", "valid": "val", "test": "test_2016_flickr"}


def _fairseq_train_one_update(data_dir: Path, langs: tuple[str, str], save_dir: Path) -> str:
    """A 1-update, tiny-dims `fairseq-train` (shared embeddings need the joined dictionary)."""
    command = [
        sys.executable, "-m", "fairseq_cli.train", str(data_dir),
        "--source-lang", langs[0], "--target-lang", langs[1],
        "--arch", "transformer_iwslt_de_en", "--share-all-embeddings",
        "--encoder-embed-dim", "16", "--decoder-embed-dim", "16",
        "--encoder-ffn-embed-dim", "32", "--decoder-ffn-embed-dim", "32",
        "--encoder-layers", "1", "--decoder-layers", "1",
        "--encoder-attention-heads", "2", "--decoder-attention-heads", "2",
        "--optimizer", "adam", "--lr", "1e-3", "--max-tokens", "1000", "--max-update", "1",
        "--cpu", "--num-workers", "0", "--no-save", "--disable-validation", "--save-dir", str(save_dir),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout + result.stderr


def _load_test_split(data_dir: Path, langs: tuple[str, str]):
    from fairseq.data import Dictionary
    from fairseq.tasks.translation import load_langpair_dataset

    src_dict = Dictionary.load(str(data_dir / f"dict.{langs[0]}.txt"))
    tgt_dict = Dictionary.load(str(data_dir / f"dict.{langs[1]}.txt"))
    return load_langpair_dataset(
        str(data_dir), "test", langs[0], src_dict, langs[1], tgt_dict,
        combine=False, dataset_impl="mmap", upsample_primary=1,
        left_pad_source=True, left_pad_target=False, max_source_positions=1024, max_target_positions=1024,
    ), tgt_dict  # fmt: skip


@pytest.mark.skipif(not MULTI30K.is_dir(), reason="../shared/real-corpus/multi30k not present")
def test_multi30k_own_corpus_to_fairseq(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    files = {}
    for split, name in MULTI30K_FILES.items():
        files[split] = {}
        for lang in ("en", "de"):
            with open(MULTI30K / f"{name}.{lang}", encoding="utf-8") as f:
                head = [next(f) for _ in range(SUBSET_LINES[split])]
            (corpus / f"{split}.{lang}").write_text("".join(head), encoding="utf-8")
            files[split][lang] = f"corpus/{split}.{lang}"  # relative to the task.yml
    data = {"files": files, "tokenize": {"aggressive-dash-splits": True}, "bpe": {"merges": 2000}}
    config = load_data_config(load_task(write_task(tmp_path, data)))
    fetch_raw(config, tmp_path / "raw")
    prepare(config, tmp_path / "raw", tmp_path / "bin", threads=2)

    dataset, tgt_dict = _load_test_split(tmp_path / "bin", ("en", "de"))
    assert len(dataset) == SUBSET_LINES["test"]
    reference = (tmp_path / "bin" / "test.ref.de").read_text(encoding="utf-8").splitlines()
    assert tgt_dict.string(dataset[0]["target"], bpe_symbol="@@ ") == reference[0]
    targets = [dataset[i]["target"] for i in range(len(dataset))]
    unknown = sum(int((t == tgt_dict.unk()).sum()) for t in targets)
    assert unknown < 0.01 * sum(len(t) for t in targets)  # BPE leaves few test subwords unseen in train
    log = _fairseq_train_one_update(tmp_path / "bin", ("en", "de"), tmp_path / "ckpt")
    assert "num_updates" in log or "done training" in log


def test_demo_task_binarizes_for_fairseq_train(tmp_path):
    demo = load_task("demo").data
    small = {**demo, "demo": {**demo["demo"], "train": 400, "valid": 50, "test": 50}}
    config = load_data_config(load_task(write_task(tmp_path, small, langs=("src", "tgt"))))
    fetch_raw(config, tmp_path / "raw")
    prepare(config, tmp_path / "raw", tmp_path / "bin", threads=1)
    dataset, _ = _load_test_split(tmp_path / "bin", ("src", "tgt"))
    assert len(dataset) == 50
    _fairseq_train_one_update(tmp_path / "bin", ("src", "tgt"), tmp_path / "ckpt")
