"""Forward time: supernet in SubTransformer mode vs the exported dense model vs fairseq's own
`transformer` of the same uniform shape (qkv = width = 512, so the shapes are identical).

Run: .venv/bin/python bench/bench_export.py [--repeats N]
Prints one row per config with times (ms) and the ratios exported/fairseq and supernet/exported,
all measured side by side in this run (interleaved, median of N).
"""

from __future__ import annotations

import argparse
import statistics
import time
from argparse import Namespace

import torch

from hat.export import export_subtransformer
from hat.space import SubConfig
from hat.supernet import SuperTransformer
from hat.tasks import load_task

VOCAB = 8000


def uniform(ffn: int, heads: int, dec_layers: int) -> SubConfig:
    return SubConfig(
        512,
        512,
        6,
        dec_layers,
        (ffn,) * 6,
        (heads,) * 6,
        (ffn,) * dec_layers,
        (heads,) * dec_layers,
        (heads,) * dec_layers,
        (-1,) * dec_layers,
    )


def fairseq_transformer(config: SubConfig) -> torch.nn.Module:
    from fairseq.data import Dictionary
    from fairseq.models.transformer import TransformerModel
    from fairseq.models.transformer.transformer_legacy import base_architecture

    dictionary = Dictionary()
    for index in range(VOCAB - len(dictionary)):
        dictionary.add_symbol(f"w{index}")
    args = Namespace(
        encoder_embed_dim=512,
        decoder_embed_dim=512,
        encoder_layers=6,
        decoder_layers=config.decoder_layer_num,
        encoder_ffn_embed_dim=config.encoder_ffn_embed_dim[0],
        decoder_ffn_embed_dim=config.decoder_ffn_embed_dim[0],
        encoder_attention_heads=config.encoder_self_attention_heads[0],
        decoder_attention_heads=config.decoder_self_attention_heads[0],
        share_all_embeddings=True,
        dropout=0.0,
        attention_dropout=0.0,
        max_source_positions=1024,
        max_target_positions=1024,
    )
    base_architecture(args)
    task = Namespace(source_dictionary=dictionary, target_dictionary=dictionary)
    return TransformerModel.build_model(args, task)


def median_ms(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def time_side_by_side(models: dict[str, torch.nn.Module], inputs: tuple, repeats: int) -> dict[str, float]:
    """Best of 3 interleaved rounds of median-of-`repeats` forward times, per model (ms)."""
    times: dict[str, list[float]] = {key: [] for key in models}
    with torch.inference_mode():
        for model in models.values():  # warm-up
            model(*inputs)
        for _ in range(3):  # interleave so drift hits every model alike
            for key, model in models.items():
                times[key].append(median_ms(lambda m=model: m(*inputs), repeats))
    return {key: min(values) for key, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=30)
    args = parser.parse_args()
    torch.manual_seed(0)
    space = load_task("wmt14ende").space
    supernet = SuperTransformer(space, VOCAB, VOCAB, dropout=0.0, attention_dropout=0.0).eval()
    src = torch.randint(4, VOCAB, (args.batch, args.length))
    prev = torch.randint(4, VOCAB, (args.batch, args.length))
    lengths = torch.full((args.batch,), args.length)
    print(f"threads={torch.get_num_threads()} batch={args.batch} length={args.length} repeats={args.repeats}")
    print(f"{'config':<22}{'supernet ms':>12}{'exported ms':>12}{'fairseq ms':>12}{'exp/fairseq':>12}{'super/exp':>11}")
    for name, config in [
        ("512/2048/8h 6+6", uniform(2048, 8, 6)),
        ("512/1024/4h 6+3", uniform(1024, 4, 3)),
        ("512/3072/8h 6+1", uniform(3072, 8, 1)),
    ]:
        supernet.set_sample_config(config)
        models = {
            "supernet": supernet,
            "exported": export_subtransformer(supernet, config).eval(),
            "fairseq": fairseq_transformer(config).eval(),
        }
        ms = time_side_by_side(models, (src, lengths, prev), args.repeats)
        print(
            f"{name:<22}{ms['supernet']:>12.1f}{ms['exported']:>12.1f}{ms['fairseq']:>12.1f}"
            f"{ms['exported'] / ms['fairseq']:>12.2f}{ms['supernet'] / ms['exported']:>11.2f}"
        )


if __name__ == "__main__":
    main()
