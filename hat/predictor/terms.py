"""Cost terms of a SubTransformer: the inputs of the `cost` and `cost-per-layer` predictors.

- `cost_terms`: 14 per-layer sums (FLOP and memory terms of HAT's protocol, spec §3 and §7.2),
  computed from HAT's 10 averaged features (average × layer count = per-layer sum), so HAT's CSVs
  and ours give the same terms.
- `per_layer_terms`: what only the per-layer config can give — for each layer kind, how many
  layers take each choice (FFN width weighted by the stack's width, head count), and the exact
  cross-attention softmax size Σ h_ende·a. A linear model over them is an additive per-layer lookup
  table: any cost per layer that depends on its choices, linear or not (GEMM efficiency by size,
  cache fit, per-head kernels), which the averaged features cannot express.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hat.errors import HatError
from hat.space import ARBITRARY, DIMENSIONS, SubConfig, encoder_layers_attended

# --------------------------------------------------------------------------------------------
# Sums from HAT's features. Notation (spec §1.3, §3): e/d encoder/decoder width, f FFN width, h heads,
# a = encoder layers attended by a decoder layer (1..3), qkv fixed; per-step costs of the beam-5
# incremental decoder and one-off costs of the encoder share each term's coefficient.

COST_TERMS: dict[str, str] = {
    "constant": "1: fixed per-sentence overhead",
    "encoder_projection": "e·N_enc: Q/K/V/out projections, 4·qkv·e MACs per encoder layer",
    "encoder_ffn": "e·Σf_enc: FFN, 2·e·f MACs per encoder layer",
    "encoder_ffn_width": "Σf_enc: FFN bias/ReLU/activation traffic",
    "encoder_heads": "Σh_enc: per-head reshape and softmax work",
    "decoder_layers": "N_dec: fixed per-layer, per-step overhead (kernel launches)",
    "decoder_projection": "d·N_dec: self Q/K/V/out and cross Q/out projections per step",
    "decoder_ffn": "d·Σf_dec: FFN per step",
    "decoder_ffn_width": "Σf_dec: FFN bias/ReLU/activation traffic per step",
    "decoder_self_heads": "Σh_self: per-head work of self-attention per step",
    "decoder_ende_heads": "Σh_ende: per-head work of encoder-decoder attention per step",
    "ende_kv": "e·Σa: cross-attention K/V over a·L encoder positions, once per sentence",
    "ende_attention": "Σa: QKᵀ and AV over a·L keys at every step",
    "decoder_embed": "d: embedding scale and the d×|V| output projection per step",
}


def cost_terms(features: np.ndarray) -> np.ndarray:
    """[N, 10] HAT features (FEATURE_NAMES order) -> [N, len(COST_TERMS)] cost terms."""
    e, n_enc, f_enc, h_enc, d, n_dec, f_dec, h_self, h_ende, attended = features.T  # each [N]
    sum_f_enc, sum_f_dec = f_enc * n_enc, f_dec * n_dec  # averages × layer count = per-layer sums
    sum_attended = attended * n_dec
    columns = [
        np.ones_like(e),
        e * n_enc,
        e * sum_f_enc,
        sum_f_enc,
        h_enc * n_enc,
        n_dec,
        d * n_dec,
        d * sum_f_dec,
        sum_f_dec,
        h_self * n_dec,
        h_ende * n_dec,
        e * sum_attended,
        sum_attended,
        d,
    ]
    return np.stack(columns, axis=1)


# --------------------------------------------------------------------------------------------
# Per-layer terms. `choices` holds the latency space's per-layer choice lists (saved in the
# predictor file, so prediction needs no task): LAYER_CHOICE_KEYS -> list of ints.

LAYER_CHOICE_KEYS = tuple(dim.choice_field for dim in DIMENSIONS if dim.per_layer and dim.kind != ARBITRARY)


def layer_choices(space: Any) -> dict[str, list[int]]:
    """The per-layer choice lists of a DesignSpace, as plain lists."""
    return {key: [int(c) for c in getattr(space, key)] for key in LAYER_CHOICE_KEYS}


def per_layer_term_names(choices: dict[str, list[int]]) -> dict[str, str]:
    """Name -> meaning of each `per_layer_terms` column, in column order."""
    names = {}
    for c in choices["encoder_ffn_embed_dim_choice"]:
        names[f"encoder_ffn_{c}"] = f"e·#(encoder layers with FFN width {c})"
    for c in choices["decoder_ffn_embed_dim_choice"]:
        names[f"decoder_ffn_{c}"] = f"d·#(decoder layers with FFN width {c}), per step"
    for c in choices["encoder_self_attention_heads_choice"]:
        names[f"encoder_heads_{c}"] = f"#(encoder layers with {c} heads)"
    for c in choices["decoder_self_attention_heads_choice"]:
        names[f"decoder_self_heads_{c}"] = f"#(decoder layers with {c} self-attention heads), per step"
    for c in choices["decoder_ende_attention_heads_choice"]:
        names[f"decoder_ende_heads_{c}"] = f"#(decoder layers with {c} cross-attention heads), per step"
    names["ende_head_keys"] = "Σ h_ende·a: cross-attention softmax over h heads × a·L keys, per step"
    return names


def per_layer_terms(configs: Sequence[SubConfig], choices: dict[str, list[int]]) -> np.ndarray:
    """N per-layer configs -> [N, len(per_layer_term_names(choices))] terms."""
    return np.array([_layer_row(config, choices) for config in configs], dtype=float).reshape(len(configs), -1)


def _layer_row(config: SubConfig, choices: dict[str, list[int]]) -> list[float]:
    for key in LAYER_CHOICE_KEYS:
        unknown = sorted(set(getattr(config, key.removesuffix("_choice"))) - set(choices[key]))
        if unknown:  # it would count in no column: a silent underestimate
            raise HatError(f"{key.removesuffix('_choice')} {unknown[0]} is not among the predictor's {choices[key]}")
    e, d = config.encoder_embed_dim, config.decoder_embed_dim
    cross = zip(config.decoder_ende_attention_heads, config.decoder_arbitrary_ende_attn)
    return [
        *(e * config.encoder_ffn_embed_dim.count(c) for c in choices["encoder_ffn_embed_dim_choice"]),
        *(d * config.decoder_ffn_embed_dim.count(c) for c in choices["decoder_ffn_embed_dim_choice"]),
        *(config.encoder_self_attention_heads.count(c) for c in choices["encoder_self_attention_heads_choice"]),
        *(config.decoder_self_attention_heads.count(c) for c in choices["decoder_self_attention_heads_choice"]),
        *(config.decoder_ende_attention_heads.count(c) for c in choices["decoder_ende_attention_heads_choice"]),
        sum(heads * encoder_layers_attended(code) for heads, code in cross),
    ]
