"""Training-update time of the supernet in SubTransformer mode vs fairseq's own `transformer` of
the same uniform shape, and the inherited-loss throughput (SubTransformers per second).

Run: .venv/bin/python bench/bench_train.py [--repeats N] [--configs N] [--batch B --length L]

Part 1 builds, per shape, the `hat_transformer` fairseq model (the WMT supernet, 640-wide, with
the shape selected) and fairseq's `transformer` at exactly that shape (qkv = width = 512), and
times one update each (label-smoothed CE forward, backward, Adam step) and, separately, forward +
backward alone; interleaved, median of N per round, best of 3 rounds. Goal: ratio <= 1.05. The
supernet's Adam step updates every super-sized tensor (as HAT's does: 76 M parameters for the
WMT supernet vs 48 M at 512/2048), which the forward+backward column leaves out.

Part 2 scores random demo-space SubTransformers with `InheritedLoss` and prints
SubTransformers per second: on the test fixture's generated corpus with a fresh supernet, or on
`--data results/demo/data --supernet results/demo/supernet/checkpoint_best.pt`.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import torch
from bench_export import VOCAB, fairseq_transformer, median_ms, uniform

REPO = Path(__file__).resolve().parents[1]


def hat_fairseq_model(config):
    from fairseq.data import Dictionary

    from hat.fairseq_plugin.model import HatTransformerModel
    from hat.supernet import SuperTransformer
    from hat.tasks import load_task

    dictionary = Dictionary()
    for index in range(VOCAB - len(dictionary)):
        dictionary.add_symbol(f"w{index}")
    core = SuperTransformer(load_task("wmt14ende").space, VOCAB, VOCAB, dropout=0.0, attention_dropout=0.0)
    model = HatTransformerModel(core, dictionary, dictionary)
    model.set_sample_config(config)
    return model


def forward_backward(model, sample) -> None:
    """fairseq's label-smoothed loss (eps 0.1), forward and backward."""
    from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

    logits, _ = model(**sample["net_input"])
    lprobs = torch.log_softmax(logits, dim=-1).view(-1, logits.size(-1))
    loss, _ = label_smoothed_nll_loss(lprobs, sample["target"].view(-1), 0.1, ignore_index=1)
    model.zero_grad()
    loss.backward()


def update_step(model, optimizer, sample) -> None:
    forward_backward(model, sample)
    optimizer.step()


def bench_updates(repeats: int, batch: int, length: int) -> None:
    src = torch.randint(4, VOCAB, (batch, length))
    prev = torch.randint(4, VOCAB, (batch, length))
    sample = {
        "net_input": {"src_tokens": src, "src_lengths": torch.full((batch,), length), "prev_output_tokens": prev},
        "target": torch.randint(4, VOCAB, (batch, length)),
    }
    print(f"threads={torch.get_num_threads()} batch={batch} length={length} repeats={repeats}")
    print(f"{'shape':<22}{'supernet ms':>12}{'fairseq ms':>12}{'ratio':>8}{'fwd+bwd ratio':>15}")
    for name, config in [
        ("512/2048/8h 6+6", uniform(2048, 8, 6)),
        ("512/1024/4h 6+3", uniform(1024, 4, 3)),
        ("512/3072/8h 6+1", uniform(3072, 8, 1)),
    ]:
        models = {"supernet": hat_fairseq_model(config).train(), "fairseq": fairseq_transformer(config).train()}
        optimizers = {key: torch.optim.Adam(m.parameters(), lr=1e-4, betas=(0.9, 0.98)) for key, m in models.items()}
        times: dict[str, list[float]] = {f"{key} {part}": [] for key in models for part in ("update", "fb")}
        for key in models:  # warm-up
            update_step(models[key], optimizers[key], sample)
        for _ in range(3):  # interleaved rounds: drift hits both alike
            for key, model in models.items():
                step = lambda m=model, o=optimizers[key]: update_step(m, o, sample)  # noqa: E731
                times[f"{key} update"].append(median_ms(step, repeats))
                times[f"{key} fb"].append(median_ms(lambda m=model: forward_backward(m, sample), repeats))
        ms = {key: min(values) for key, values in times.items()}
        update_ratio = ms["supernet update"] / ms["fairseq update"]
        print(
            f"{name:<22}{ms['supernet update']:>12.1f}{ms['fairseq update']:>12.1f}{update_ratio:>8.2f}"
            f"{ms['supernet fb'] / ms['fairseq fb']:>15.2f}"
        )


def bench_inherited_loss(configs: int, data: Path | None, supernet: Path | None) -> None:
    """Score `configs` random demo SubTransformers; on `data`/`supernet` if given, else on the test
    fixture's generated corpus with a freshly initialized supernet."""
    from hat.fairseq_plugin.fitness import InheritedLoss
    from hat.tasks import load_task

    task = load_task("demo")
    with tempfile.TemporaryDirectory() as tmp:
        if data is None or supernet is None:
            data, supernet = generated_corpus_and_supernet(task, Path(tmp))
        start = time.perf_counter()
        inherited_loss = InheritedLoss(task, supernet, data)
        setup_s = time.perf_counter() - start
        rng = random.Random(0)
        samples = [task.space.sample(rng) for _ in range(configs)]
        start = time.perf_counter()
        inherited_loss(samples)
        elapsed = time.perf_counter() - start
    tokens = sum(int(sample["ntokens"]) for sample in inherited_loss.batches)
    print(f"inherited loss: {configs} SubTransformers x {tokens} target tokens in {elapsed:.2f} s "
          f"= {configs / elapsed:.1f} SubTransformers/s (setup, once: {setup_s:.1f} s)")  # fmt: skip


def generated_corpus_and_supernet(task, tmp: Path) -> tuple[Path, Path]:
    sys.path.insert(0, str(REPO / "tests"))
    from fixtures_train import build_binarized_corpus

    from hat.export import save_model
    from hat.supernet import SuperTransformer

    data = build_binarized_corpus(tmp / "corpus")
    vocab = len((data / "dict.src.txt").read_text().splitlines()) + 4
    save_model(SuperTransformer(task.space, vocab, vocab), tmp / "super.pt", space=task.space, task="demo")
    return data, tmp / "super.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    # 128 x 32 = 4096 tokens: HAT's max-tokens per batch (spec §2), the size training runs at.
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--configs", type=int, default=50, help="SubTransformers scored in part 2")
    parser.add_argument("--data", type=Path, help="part 2 on this demo data dir (with --supernet)")
    parser.add_argument("--supernet", type=Path, help="part 2 with this demo supernet checkpoint")
    parser.add_argument("--skip-updates", action="store_true", help="only part 2")
    args = parser.parse_args()
    torch.manual_seed(0)
    if not args.skip_updates:
        bench_updates(args.repeats, args.batch, args.length)
    bench_inherited_loss(args.configs, args.data, args.supernet)


if __name__ == "__main__":
    main()
