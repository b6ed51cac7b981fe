"""Loading a checkpoint with and without the content-digest check (hat.io.load_checkpoint).

Run: .venv/bin/python bench/bench_digest.py [--checkpoint CKPT] [--repeats N]
Default: a demo-task supernet checkpoint in the training layout (the model's weights plus two
Adam moment buffers per parameter, as fairseq's checkpoint_best.pt holds them; joint vocabulary
of 1,000 + specials like the demo data). Pass results/demo/supernet/checkpoint_best.pt after the
workflow ran to time the real file. Prints the median load time of torch.load(weights_only=True)
alone, of load_checkpoint (torch.load + digest), and their ratio, measured interleaved in this run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hat.io import load_checkpoint, save_checkpoint
from hat.supernet import SuperTransformer
from hat.tasks import load_task

DEMO_VOCAB = 1008  # ~1k BPE merges' joint dictionary, padded to a multiple of 8 as fairseq does


def demo_training_checkpoint(path: Path) -> Path:
    from hat.export import checkpoint_metadata

    task = load_task("demo")
    model = SuperTransformer(task.space, DEMO_VOCAB, DEMO_VOCAB, padding_idx=1)
    state = model.state_dict()
    adam = {i: {"exp_avg": torch.randn_like(t), "exp_avg_sq": torch.rand_like(t)} for i, t in enumerate(state.values())}
    save_checkpoint(
        {
            "hat": checkpoint_metadata(model, task.space, task.name),
            "model": state,
            "last_optimizer_state": {"state": adam, "param_groups": [{"lr": 5e-4, "params": list(adam)}]},
            "extra_state": {"epoch": 3, "best": 4.2},
        },
        path,
    )
    return path


def seconds_to_load(load, path: Path) -> float:
    started = time.perf_counter()
    load(path)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="default: a generated demo supernet checkpoint")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.checkpoint or demo_training_checkpoint(Path(tmp) / "checkpoint_best.pt")
        plain, verified = [], []
        for _ in range(args.repeats):  # interleaved, so machine load hits both alike
            plain.append(seconds_to_load(lambda p: torch.load(p, map_location="cpu", weights_only=True), path))
            verified.append(seconds_to_load(load_checkpoint, path))
        size_mb = path.stat().st_size / 1e6
    plain_ms, verified_ms = 1000 * statistics.median(plain), 1000 * statistics.median(verified)
    print(f"checkpoint: {path.name}, {size_mb:.1f} MB, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"torch.load(weights_only=True)      {plain_ms:8.1f} ms (median of {args.repeats})")
    print(f"load_checkpoint (+ sha256 digest)  {verified_ms:8.1f} ms")
    print(f"ratio with/without digest          {verified_ms / plain_ms:8.2f}x  (+{verified_ms - plain_ms:.1f} ms)")


if __name__ == "__main__":
    main()
