"""#Params and FLOPs of a SubTransformer under HAT's conventions (hat-spec §7), analytically.

* #Params: active layers only; Linear, LayerNorm and attention in-projections including the full
  3*qkv in-projection bias; token embeddings, positions and the output projection excluded.
  Heads and arbitrary attention do not change it.
* FLOPs: 2 x the MACs torchprofile counts for one teacher-forced pass at batch 1 and sentence
  length L (30 for WMT, 23 for IWSLT), minus the output projection. Counted: every matmul (linear
  layers and both attention products), element-wise multiplies (embedding scale, query scaling,
  the position-mask multiply) and LayerNorm outputs. Arbitrary attention over n encoder layers
  multiplies the cross-attention key/value length by n.

`tests/test_profile.py` proves these formulas against torchprofile traces of the real model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hat.space import SubConfig, encoder_layers_attended

if TYPE_CHECKING:
    from hat.tasks import Task


def _attention_params(query_dim: int, key_dim: int, qkv: int) -> int:
    in_proj = query_dim * qkv + 2 * key_dim * qkv + 3 * qkv
    out_proj = qkv * query_dim + query_dim
    return in_proj + out_proj


def _ffn_params(dim: int, ffn: int) -> int:
    return (dim * ffn + ffn) + (ffn * dim + dim)


def count_params(config: SubConfig, qkv_dim: int) -> int:
    """HAT's "SubTransformer size (without embedding weights)"."""
    e, d = config.encoder_embed_dim, config.decoder_embed_dim
    encoder = sum(
        _attention_params(e, e, qkv_dim) + 2 * e + _ffn_params(e, f) + 2 * e for f in config.encoder_ffn_embed_dim
    )
    decoder = sum(
        _attention_params(d, d, qkv_dim) + 2 * d + _attention_params(d, e, qkv_dim) + 2 * d + _ffn_params(d, f) + 2 * d
        for f in config.decoder_ffn_embed_dim
    )
    return encoder + decoder


def count_macs(config: SubConfig, qkv_dim: int, length: int) -> int:
    """Multiply-accumulates of one teacher-forced pass (batch 1, source = target length `length`),
    output projection excluded, in torchprofile's convention."""
    L, Q = length, qkv_dim
    e, d = config.encoder_embed_dim, config.decoder_embed_dim
    macs = L * e + L + L * d + L  # embedding scale and position-mask multiplies
    for f in config.encoder_ffn_embed_dim:
        attention = 3 * L * e * Q + 2 * L * L * Q + L * Q * e
        elementwise = L * Q + 2 * L * e  # query scaling, two LayerNorms
        macs += attention + 2 * L * e * f + elementwise
    for f, arbitrary in zip(config.decoder_ffn_embed_dim, config.decoder_arbitrary_ende_attn):
        S = L * encoder_layers_attended(arbitrary)
        self_attention = 3 * L * d * Q + 2 * L * L * Q + L * Q * d
        cross_attention = L * d * Q + 2 * S * e * Q + 2 * L * S * Q + L * Q * d
        elementwise = 2 * L * Q + 3 * L * d  # two query scalings, three LayerNorms
        macs += self_attention + cross_attention + 2 * L * d * f + elementwise
    return macs


def count_flops(config: SubConfig, qkv_dim: int, length: int) -> int:
    """HAT's published FLOPs: 2 x MACs without the output layer."""
    return 2 * count_macs(config, qkv_dim, length)


def task_counts(config: SubConfig, task: Task) -> dict[str, int]:
    """#Params and FLOPs of `config` in `task`'s space, at the task's sentence length."""
    qkv = task.space.qkv_dim
    return {"params": count_params(config, qkv), "flops": count_flops(config, qkv, task.sentence_length)}
