"""Does the per-layer config tell the latency predictor more than HAT's 10 averaged features?

HAT's features average each per-layer choice over the layers, so [3072, 512] and [1792, 1792]
look alike. The default predictor's 14 cost terms are per-layer sums, which those averages give
exactly; a device whose cost per layer is not linear in the choices (GEMM efficiency by size,
cache fit, per-head kernels) would need terms only the per-layer config can give. This bench fits
the default and the default plus such terms on a CSV recorded by `hat latency dataset` (its
`subtransformer` column holds the per-layer config; drift-flagged rows are left out), on the same
K held-out splits, and prints the held-out figures side by side:

- ffn-by-width: e·#(encoder layers with FFN width c), d·#(decoder layers with width c), per choice c
- heads-by-count: #(layers with c heads), per choice c, for encoder self, decoder self, cross
- ende-head-keys: Σ_layers h_ende · (encoder layers attended): the cross-attention softmax size
- ffn-squared: Σ_layers f² per stack

    .venv/bin/python bench/bench_predictor_layers.py CSV --task T [--splits 10]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch

from hat.latency.table import read_latency_csv
from hat.predictor import cost_terms, fit_cost, heldout_split, latency_metrics
from hat.space import DesignSpace, SubConfig, encoder_layers_attended
from hat.tasks import load_task


def ffn_by_width(config: SubConfig, space: DesignSpace) -> list[float]:
    e, d = config.encoder_embed_dim, config.decoder_embed_dim
    encoder = [e * config.encoder_ffn_embed_dim.count(c) for c in space.encoder_ffn_embed_dim_choice]
    decoder = [d * config.decoder_ffn_embed_dim.count(c) for c in space.decoder_ffn_embed_dim_choice]
    return encoder + decoder


def heads_by_count(config: SubConfig, space: DesignSpace) -> list[float]:
    return (
        [config.encoder_self_attention_heads.count(c) for c in space.encoder_self_attention_heads_choice]
        + [config.decoder_self_attention_heads.count(c) for c in space.decoder_self_attention_heads_choice]
        + [config.decoder_ende_attention_heads.count(c) for c in space.decoder_ende_attention_heads_choice]
    )


def ende_head_keys(config: SubConfig, space: DesignSpace) -> list[float]:
    pairs = zip(config.decoder_ende_attention_heads, config.decoder_arbitrary_ende_attn)
    return [sum(heads * encoder_layers_attended(code) for heads, code in pairs)]


def ffn_squared(config: SubConfig, space: DesignSpace) -> list[float]:
    return [sum(f * f for f in config.encoder_ffn_embed_dim), sum(f * f for f in config.decoder_ffn_embed_dim)]


PER_LAYER_TERMS: dict[str, Callable[[SubConfig, DesignSpace], list[float]]] = {
    "ffn-by-width": ffn_by_width,
    "heads-by-count": heads_by_count,
    "ende-head-keys": ende_head_keys,
    "ffn-squared": ffn_squared,
}


def heldout_figures(terms: np.ndarray, target_ms: np.ndarray, splits: int) -> np.ndarray:
    """[splits, 3]: ±10 %, MAPE %, ±5 % of the default fit on each split seed."""
    figures = []
    for seed in range(splits):
        train, heldout = heldout_split(len(target_ms), seed)
        coefficients, term_scale = fit_cost(terms[train], target_ms[train])
        metrics = latency_metrics(target_ms[heldout], terms[heldout] / term_scale @ coefficients)
        figures.append([metrics["within_10_pct"], metrics["mape_pct"], metrics["within_5_pct"]])
    return np.array(figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", help="latency CSV from `hat latency dataset` (with the subtransformer column)")
    parser.add_argument("--task", required=True, help="task whose latency space the CSV samples")
    parser.add_argument("--splits", type=int, default=10, help="held-out split seeds 0..K-1")
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = load_task(args.task).latency_space
    rows = [row for row in read_latency_csv(args.csv, space=space) if row.drift_flag != 1]
    if any(row.config is None for row in rows):
        parser.error(f"{args.csv}: rows without a subtransformer config (HAT's CSVs have none)")
    features = np.array([row.features for row in rows])  # [N, 10]
    target_ms = np.array([row.total_ms for row in rows])  # [N]
    default_terms = cost_terms(features)
    print(f"{args.csv}: {len(rows)} steady rows, median {np.median(target_ms):.1f} ms, {args.splits} splits")
    print(f"{'terms':32} {'±10%':>6} {'MAPE%':>6} {'±5%':>6}")
    variants = {"default (14 sums)": []} | {f"+ {name}": [name] for name in PER_LAYER_TERMS}
    variants["+ all four"] = list(PER_LAYER_TERMS)
    for label, names in variants.items():
        extra = [[value for name in names for value in PER_LAYER_TERMS[name](row.config, space)] for row in rows]
        terms = np.concatenate([default_terms, np.array(extra, dtype=float).reshape(len(rows), -1)], axis=1)
        within_10, mape, within_5 = heldout_figures(terms, target_ms, args.splits).mean(axis=0)
        print(f"{label:32} {within_10:6.1f} {mape:6.2f} {within_5:6.1f}")


if __name__ == "__main__":
    main()
