"""The weight-sharing SuperTransformer in plain PyTorch (hat-spec §1.3-§1.6).

One module tree holds the super-sized weights. `set_sample_config(config)` selects a
SubTransformer; every forward then slices the *leading block* of each tensor (first rows, first
columns) as views, so sampling never copies weights and the gradients of a step land only in the
selected slices. Conventions, all from HAT:

* post-norm layers, ReLU FFN, no final encoder/decoder LayerNorm;
* Q, K and V project to a fixed `qkv_dim` (512) whatever the width; heads only split those
  channels (head_dim = qkv_dim / heads) and set the softmax temperature;
* cross-attention queries use the decoder width d, keys/values the encoder width e;
* "arbitrary" encoder-decoder attention: decoder layer i attends to the last 1, 2 or 3 encoder
  layer outputs concatenated along time, in the order [last, second-last, third-last];
* the sinusoidal position table is built at the super width and sliced to e / d channels;
  token embeddings are scaled by sqrt(sampled width);
* dropout scales with width, p * sampled / super, except the encoder's post-self-attention
  residual dropout (unscaled) and attention-probability dropout (never scaled).

Tensors are batch-major: B batch, S source length, T target length, V vocabulary.

The same class also serves as the *exported* dense model (hat.export): it is then allocated at
exactly one SubTransformer's shape (`Allocation.for_config`), so every slice is the whole tensor.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hat.space import DesignSpace, SubConfig, encoder_layers_attended

MAX_POSITIONS = 1024  # longest source/target sequence the model reports to fairseq (HAT: max-source/target-positions)

# -------------------------------------------------------------------------------------------
# What is allocated


@dataclass(frozen=True)
class Allocation:
    """The allocated (super) shape of every tensor, plus HAT's reference widths.

    `*_reference_dim` is the SuperTransformer width the positional table is built at and that
    dropout is scaled against; an exported SubTransformer keeps its supernet's values so that it
    computes exactly what the supernet computed.
    """

    encoder_embed_dim: int
    decoder_embed_dim: int
    qkv_dim: int
    encoder_ffn_embed_dims: tuple[int, ...]
    decoder_ffn_embed_dims: tuple[int, ...]
    share_all_embeddings: bool
    encoder_reference_dim: int
    decoder_reference_dim: int

    @classmethod
    def from_space(cls, space: DesignSpace) -> Allocation:
        return cls(
            encoder_embed_dim=space.encoder_embed_dim,
            decoder_embed_dim=space.decoder_embed_dim,
            qkv_dim=space.qkv_dim,
            encoder_ffn_embed_dims=(space.encoder_ffn_embed_dim,) * space.encoder_layers,
            decoder_ffn_embed_dims=(space.decoder_ffn_embed_dim,) * space.decoder_layers,
            share_all_embeddings=space.share_all_embeddings,
            encoder_reference_dim=space.encoder_embed_dim,
            decoder_reference_dim=space.decoder_embed_dim,
        )

    @classmethod
    def for_config(cls, config: SubConfig, parent: Allocation) -> Allocation:
        """Exactly `config`'s shape (the exported dense model), with `parent`'s reference widths."""
        return cls(
            encoder_embed_dim=config.encoder_embed_dim,
            decoder_embed_dim=config.decoder_embed_dim,
            qkv_dim=parent.qkv_dim,
            encoder_ffn_embed_dims=config.encoder_ffn_embed_dim,
            decoder_ffn_embed_dims=config.decoder_ffn_embed_dim,
            share_all_embeddings=parent.share_all_embeddings,
            encoder_reference_dim=parent.encoder_reference_dim,
            decoder_reference_dim=parent.decoder_reference_dim,
        )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Allocation:
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in values.items()})

    @property
    def shared_embed_dim(self) -> int:
        return max(self.encoder_embed_dim, self.decoder_embed_dim)


# -------------------------------------------------------------------------------------------
# Elastic building blocks: parameters at allocated size, forward on the leading block.


def _xavier_uniform_(weight: Tensor, fan_in: int, fan_out: int) -> None:
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(weight, -bound, bound)


class ElasticLinear(nn.Linear):
    """nn.Linear whose forward uses W[:out, :in] and b[:out] (HAT's LinearSuper)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features)
        nn.init.xavier_uniform_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, in_dim: int, out_dim: int) -> Tensor:  # type: ignore[override]
        return F.linear(x, self.weight[:out_dim, :in_dim], self.bias[:out_dim])


class ElasticLayerNorm(nn.LayerNorm):
    """LayerNorm over the first `dim` channels with γ[:dim], β[:dim] (HAT's LayerNormSuper)."""

    def forward(self, x: Tensor, dim: int) -> Tensor:  # type: ignore[override]
        return F.layer_norm(x, (dim,), self.weight[:dim], self.bias[:dim], self.eps)


def _split_heads(x: Tensor, heads: int) -> Tensor:
    """[B, T, qkv] -> [B, heads, T, qkv / heads]"""
    B, T, C = x.shape
    return x.view(B, T, heads, C // heads).transpose(1, 2)


def attend(q: Tensor, k: Tensor, v: Tensor, heads: int, mask: Tensor | None, dropout: float) -> Tensor:
    """Scaled dot-product attention over qkv channels split into `heads`.

    q: [B, T, qkv]; k, v: [B, S, qkv]; mask: bool, broadcastable to [B, heads, T, S], True = attend.
    Returns [B, T, qkv]. Queries are scaled by head_dim^-0.5 explicitly (as HAT/fairseq do, and
    so that torchprofile counts the multiply like HAT's FLOPs convention).
    """
    B, T, C = q.shape
    q = q * (C // heads) ** -0.5
    out = F.scaled_dot_product_attention(
        _split_heads(q, heads),
        _split_heads(k, heads),
        _split_heads(v, heads),
        attn_mask=mask,
        dropout_p=dropout,
        scale=1.0,
    )  # [B, heads, T, head_dim]
    return out.transpose(1, 2).reshape(B, T, C)


class ElasticSelfAttention(nn.Module):
    """Self-attention with one fused in-projection [3*qkv, width] (rows: Q, K, V)."""

    def __init__(self, width: int, qkv_dim: int, attention_dropout: float):
        super().__init__()
        self.qkv_dim = qkv_dim
        self.attention_dropout = attention_dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * qkv_dim, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * qkv_dim))
        self.out_proj = ElasticLinear(qkv_dim, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: Tensor, dim: int, heads: int, mask: Tensor | None, cache: dict | None = None) -> Tensor:
        """x: [B, T, ≥dim] -> [B, T, dim]. With `cache`, x holds new steps only and K/V accumulate."""
        q, k, v = F.linear(x, self.in_proj_weight[:, :dim], self.in_proj_bias).chunk(3, dim=-1)
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=1)
                v = torch.cat([cache["v"], v], dim=1)
            cache["k"], cache["v"] = k, v
        dropout = self.attention_dropout if self.training else 0.0
        return self.out_proj(attend(q, k, v, heads, mask, dropout), self.qkv_dim, dim)


class ElasticCrossAttention(nn.Module):
    """Encoder-decoder attention: Q from the decoder (width d), K/V from the encoder (width e).

    HAT keeps one fused [3*qkv, 640] matrix; Q/K/V are its row blocks, so storing them as a
    Q block and a KV block is the same parameterization, and lets an exported model with e != d
    allocate each block at its own width. Initialization draws the blocks with the fused
    matrix's Xavier bound.
    """

    def __init__(self, query_width: int, key_width: int, qkv_dim: int, attention_dropout: float):
        super().__init__()
        self.qkv_dim = qkv_dim
        self.attention_dropout = attention_dropout
        self.q_proj_weight = nn.Parameter(torch.empty(qkv_dim, query_width))
        self.q_proj_bias = nn.Parameter(torch.zeros(qkv_dim))
        self.kv_proj_weight = nn.Parameter(torch.empty(2 * qkv_dim, key_width))
        self.kv_proj_bias = nn.Parameter(torch.zeros(2 * qkv_dim))
        self.out_proj = ElasticLinear(qkv_dim, query_width)
        _xavier_uniform_(self.q_proj_weight, query_width, 3 * qkv_dim)
        _xavier_uniform_(self.kv_proj_weight, key_width, 3 * qkv_dim)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        dim: int,
        memory_dim: int,
        heads: int,
        mask: Tensor | None,
        cache: dict | None = None,
    ) -> Tensor:
        """x: [B, T, ≥dim], memory: [B, S', ≥memory_dim] -> [B, T, dim]. K/V are computed once per
        sentence when a cache is given (static K/V during incremental decoding)."""
        q = F.linear(x, self.q_proj_weight[:, :dim], self.q_proj_bias)
        if cache is not None and "k" in cache:
            k, v = cache["k"], cache["v"]
        else:
            k, v = self.project_memory(memory, memory_dim)
            if cache is not None:
                cache["k"], cache["v"] = k, v
        dropout = self.attention_dropout if self.training else 0.0
        return self.out_proj(attend(q, k, v, heads, mask, dropout), self.qkv_dim, dim)

    def project_memory(self, memory: Tensor, memory_dim: int) -> tuple[Tensor, Tensor]:
        """The static keys and values of one sentence's memory: [B, S', ≥memory_dim] -> 2 x [B, S', qkv]."""
        return F.linear(memory, self.kv_proj_weight[:, :memory_dim], self.kv_proj_bias).chunk(2, dim=-1)


class ElasticFeedForward(nn.Module):
    """fc1 -> ReLU -> fc2 with W1[:f, :d], W2[:d, :f]: hidden unit j is shared by every width."""

    def __init__(self, width: int, ffn_dim: int):
        super().__init__()
        self.fc1 = ElasticLinear(width, ffn_dim)
        self.fc2 = ElasticLinear(ffn_dim, width)

    def forward(self, x: Tensor, dim: int, ffn_dim: int) -> Tensor:
        return self.fc2(F.relu(self.fc1(x, dim, ffn_dim)), ffn_dim, dim)


def sinusoidal_table(num_positions: int, dim: int, padding_idx: int) -> Tensor:
    """fairseq/tensor2tensor table [num_positions, dim]: first half sin, second half cos; pad row 0."""
    half = dim // 2
    frequencies = torch.exp(torch.arange(half, dtype=torch.float) * -(math.log(10000) / (half - 1)))
    angles = torch.arange(num_positions, dtype=torch.float)[:, None] * frequencies[None, :]
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        table = torch.cat([table, torch.zeros(num_positions, 1)], dim=1)
    table[padding_idx] = 0
    return table


class SinusoidalPositions(nn.Module):
    """Positions start at padding_idx + 1; pads get the zero row. Built at the reference width
    and sliced to the sampled width (not the same as a native table of that width)."""

    def __init__(self, reference_dim: int, padding_idx: int, initial_size: int = 1026):
        super().__init__()
        self.reference_dim = reference_dim
        self.padding_idx = padding_idx
        self.register_buffer("table", sinusoidal_table(initial_size, reference_dim, padding_idx), persistent=False)

    def forward(self, tokens: Tensor, dim: int, step: int | None = None) -> Tensor:
        """tokens: [B, T] -> [B, T, dim]. `step` (incremental decoding): the position of one new token."""
        if step is not None:
            positions = torch.full_like(tokens, self.padding_idx + step)
        else:
            not_pad = tokens.ne(self.padding_idx).int()
            positions = (torch.cumsum(not_pad, dim=1).type_as(not_pad) * not_pad).long() + self.padding_idx
        needed = int(positions.max()) + 1
        if needed > self.table.size(0):
            self.table = sinusoidal_table(needed, self.reference_dim, self.padding_idx).to(self.table)
        return self.table[positions, :dim]


def scaled_dropout(p: float, dim: int, reference_dim: int) -> float:
    """HAT's width-scaled dropout: p * sampled / super."""
    return p * dim / reference_dim


# -------------------------------------------------------------------------------------------
# Layers


class EncoderLayer(nn.Module):
    def __init__(
        self, width: int, ffn_dim: int, qkv_dim: int, dropout: float, attention_dropout: float, reference_dim: int
    ):
        super().__init__()
        self.self_attn = ElasticSelfAttention(width, qkv_dim, attention_dropout)
        self.self_attn_layer_norm = ElasticLayerNorm(width)
        self.ffn = ElasticFeedForward(width, ffn_dim)
        self.final_layer_norm = ElasticLayerNorm(width)
        self.dropout = dropout
        self.reference_dim = reference_dim

    def forward(self, x: Tensor, mask: Tensor | None, dim: int, ffn_dim: int, heads: int) -> Tensor:
        """x: [B, S, dim] -> [B, S, dim]"""
        residual = x
        x = self.self_attn(x, dim, heads, mask)
        x = F.dropout(x, self.dropout, self.training)  # HAT quirk: unscaled here
        x = self.self_attn_layer_norm(residual + x, dim)
        residual = x
        x = self.ffn(x, dim, ffn_dim)
        x = F.dropout(x, scaled_dropout(self.dropout, dim, self.reference_dim), self.training)
        return self.final_layer_norm(residual + x, dim)


class DecoderLayer(nn.Module):
    def __init__(
        self,
        width: int,
        encoder_width: int,
        ffn_dim: int,
        qkv_dim: int,
        dropout: float,
        attention_dropout: float,
        reference_dim: int,
    ):
        super().__init__()
        self.self_attn = ElasticSelfAttention(width, qkv_dim, attention_dropout)
        self.self_attn_layer_norm = ElasticLayerNorm(width)
        self.encoder_attn = ElasticCrossAttention(width, encoder_width, qkv_dim, attention_dropout)
        self.encoder_attn_layer_norm = ElasticLayerNorm(width)
        self.ffn = ElasticFeedForward(width, ffn_dim)
        self.final_layer_norm = ElasticLayerNorm(width)
        self.dropout = dropout
        self.reference_dim = reference_dim

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None,
        self_mask: Tensor | None,
        dim: int,
        memory_dim: int,
        ffn_dim: int,
        self_heads: int,
        cross_heads: int,
        cache: dict | None = None,
    ) -> Tensor:
        """x: [B, T, dim], memory: [B, S', memory_dim] -> [B, T, dim]"""
        p = scaled_dropout(self.dropout, dim, self.reference_dim)
        self_cache = cache.setdefault("self", {}) if cache is not None else None
        cross_cache = cache.setdefault("cross", {}) if cache is not None else None
        x = self.self_attn_layer_norm(
            x + F.dropout(self.self_attn(x, dim, self_heads, self_mask, self_cache), p, self.training), dim
        )
        attended = self.encoder_attn(x, memory, dim, memory_dim, cross_heads, memory_mask, cross_cache)
        x = self.encoder_attn_layer_norm(x + F.dropout(attended, p, self.training), dim)
        x = self.final_layer_norm(x + F.dropout(self.ffn(x, dim, ffn_dim), p, self.training), dim)
        return x


# -------------------------------------------------------------------------------------------
# Encoder and decoder


class ElasticEmbedding(nn.Embedding):
    """Token table [V, width], N(0, width^-0.5) with a zero pad row; forward takes columns [:, :dim]."""

    def __init__(self, num_embeddings: int, width: int, padding_idx: int):
        super().__init__(num_embeddings, width, padding_idx=padding_idx)
        nn.init.normal_(self.weight, mean=0.0, std=width**-0.5)
        with torch.no_grad():
            self.weight[padding_idx].zero_()

    def forward(self, tokens: Tensor, dim: int) -> Tensor:  # type: ignore[override]
        return F.embedding(tokens, self.weight[:, :dim], self.padding_idx)


class TokenStack(nn.Module):
    """What encoder and decoder share: the token table, the sliced positions, width-scaled
    dropout against the reference width, and the active SubTransformer."""

    def __init__(self, tokens: ElasticEmbedding, padding_idx: int, dropout: float, reference_dim: int):
        super().__init__()
        self.padding_idx = padding_idx
        self.dropout = dropout
        self.reference_dim = reference_dim
        self.embed_tokens = tokens
        self.embed_positions = SinusoidalPositions(reference_dim, padding_idx)
        self.config: SubConfig | None = None

    def embed(self, tokens: Tensor, dim: int, step: int | None = None) -> Tensor:
        """sqrt(dim)-scaled token embedding + sliced sinusoidal position, then dropout: [B, T] -> [B, T, dim]."""
        x = self.embed_tokens(tokens, dim) * math.sqrt(dim) + self.embed_positions(tokens, dim, step)
        return F.dropout(x, scaled_dropout(self.dropout, dim, self.reference_dim), self.training)


class Encoder(TokenStack):
    def __init__(
        self,
        allocation: Allocation,
        tokens: ElasticEmbedding,
        padding_idx: int,
        dropout: float,
        attention_dropout: float,
    ):
        a = allocation
        super().__init__(tokens, padding_idx, dropout, a.encoder_reference_dim)
        self.layers = nn.ModuleList(
            EncoderLayer(a.encoder_embed_dim, ffn, a.qkv_dim, dropout, attention_dropout, a.encoder_reference_dim)
            for ffn in a.encoder_ffn_embed_dims
        )

    def forward(self, src_tokens: Tensor, src_lengths: Tensor | None = None) -> dict[str, Any]:
        """src_tokens: [B, S] (left- or right-padded). Returns
        encoder_out [B, S, e], encoder_states (one [B, S, e] per active layer), padding_mask [B, S]."""
        c = active_config(self)
        dim = c.encoder_embed_dim
        padding_mask = src_tokens.eq(self.padding_idx)  # True at pads
        x = self.embed(src_tokens, dim)
        mask = attention_mask(padding_mask)
        states = []
        for index in range(c.encoder_layer_num):
            x = self.layers[index](x, mask, dim, c.encoder_ffn_embed_dim[index], c.encoder_self_attention_heads[index])
            states.append(x)
        return {"encoder_out": x, "encoder_states": states, "padding_mask": padding_mask}

    @staticmethod
    def reorder_encoder_out(encoder_out: dict[str, Any], new_order: Tensor) -> dict[str, Any]:
        """Select/expand batch rows (beam search)."""
        return {
            "encoder_out": encoder_out["encoder_out"].index_select(0, new_order),
            "encoder_states": [s.index_select(0, new_order) for s in encoder_out["encoder_states"]],
            "padding_mask": encoder_out["padding_mask"].index_select(0, new_order),
        }


def active_config(module: nn.Module) -> SubConfig:
    if module.config is None:
        raise RuntimeError("no SubTransformer selected: call set_sample_config(config) first")
    return module.config


def attention_mask(padding_mask: Tensor) -> Tensor | None:
    """Key padding mask [B, S] (True = pad) -> SDPA mask [B, 1, 1, S] (True = attend); None if no pads."""
    if not padding_mask.any():
        return None
    return ~padding_mask[:, None, None, :]


def attended_memory(encoder_out: dict[str, Any], arbitrary: int) -> tuple[Tensor, Tensor]:
    """The top 1-3 encoder layer outputs concatenated along time ([last, second-last, ...]) and the
    padding mask repeated to match: ([B, n*S, e], [B, n*S])."""
    n = encoder_layers_attended(arbitrary)
    states = encoder_out["encoder_states"][::-1][:n]
    return torch.cat(states, dim=1), encoder_out["padding_mask"].repeat(1, n)


class Decoder(TokenStack):
    def __init__(
        self,
        allocation: Allocation,
        tokens: ElasticEmbedding,
        vocab_size: int,
        padding_idx: int,
        dropout: float,
        attention_dropout: float,
    ):
        a = allocation
        super().__init__(tokens, padding_idx, dropout, a.decoder_reference_dim)
        self.layers = nn.ModuleList(
            DecoderLayer(
                a.decoder_embed_dim,
                a.encoder_embed_dim,
                ffn,
                a.qkv_dim,
                dropout,
                attention_dropout,
                a.decoder_reference_dim,
            )
            for ffn in a.decoder_ffn_embed_dims
        )
        if a.share_all_embeddings:
            self.embed_out = None
        else:
            self.embed_out = nn.Parameter(torch.empty(vocab_size, a.decoder_embed_dim))
            nn.init.normal_(self.embed_out, mean=0.0, std=a.decoder_embed_dim**-0.5)

    def output_weight(self, dim: int) -> Tensor:
        """[V, dim]: the tied embedding's leading columns, or the separate output matrix's."""
        weight = self.embed_tokens.weight if self.embed_out is None else self.embed_out
        return weight[:, :dim]

    def forward(
        self, prev_output_tokens: Tensor, encoder_out: dict[str, Any], incremental_state: dict | None = None
    ) -> Tensor:
        """prev_output_tokens: [B, T] -> logits [B, T, V]; with `incremental_state` only the last
        token is processed ([B, 1, V]) and attention keys/values are cached in the dict."""
        c = active_config(self)
        dim, memory_dim = c.decoder_embed_dim, c.encoder_embed_dim
        step = None
        if incremental_state is not None:
            step = prev_output_tokens.size(1)
            prev_output_tokens = prev_output_tokens[:, -1:]
        x = self.embed(prev_output_tokens, dim, step)
        self_mask = None if incremental_state is not None else causal_mask(prev_output_tokens, self.padding_idx)
        for index in range(c.decoder_layer_num):
            memory, memory_pad = attended_memory(encoder_out, c.decoder_arbitrary_ende_attn[index])
            cache = incremental_state.setdefault(index, {}) if incremental_state is not None else None
            x = self.layers[index](
                x,
                memory,
                attention_mask(memory_pad),
                self_mask,
                dim,
                memory_dim,
                c.decoder_ffn_embed_dim[index],
                c.decoder_self_attention_heads[index],
                c.decoder_ende_attention_heads[index],
                cache,
            )
        return F.linear(x, self.output_weight(dim))

    @staticmethod
    def reorder_incremental_state(incremental_state: dict, new_order: Tensor) -> None:
        """Reorder every cached K/V tensor along the batch dimension, in place."""
        for layer_cache in incremental_state.values():
            for attention_cache in layer_cache.values():
                for key, tensor in attention_cache.items():
                    attention_cache[key] = tensor.index_select(0, new_order)


def causal_mask(tokens: Tensor, padding_idx: int) -> Tensor:
    """[B, T] -> bool [B, 1, T, T]: position t attends to non-pad positions <= t."""
    T = tokens.size(1)
    causal = torch.ones(T, T, dtype=torch.bool, device=tokens.device).tril()
    not_pad = tokens.ne(padding_idx)
    if not_pad.all():
        return causal[None, None]
    # A fully padded query row would make softmax NaN; let pad rows see themselves.
    eye = torch.eye(T, dtype=torch.bool, device=tokens.device)
    return ((causal[None] & not_pad[:, None, :]) | eye)[:, None]


# -------------------------------------------------------------------------------------------
# The model


class SuperTransformer(nn.Module):
    """Encoder-decoder SuperTransformer; `set_sample_config` picks the active SubTransformer.

    `space` is a DesignSpace (a supernet) or an Allocation (e.g. an exported SubTransformer).
    """

    def __init__(
        self,
        space: DesignSpace | Allocation,
        src_vocab_size: int,
        tgt_vocab_size: int,
        padding_idx: int = 1,
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
    ):
        super().__init__()
        allocation = space if isinstance(space, Allocation) else Allocation.from_space(space)
        self.allocation = allocation
        self.vocab_sizes = (src_vocab_size, tgt_vocab_size)
        self.padding_idx = padding_idx
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        if allocation.share_all_embeddings:
            if src_vocab_size != tgt_vocab_size:
                raise ValueError("shared embeddings need one joined dictionary (src/tgt vocab sizes differ)")
            src_table = tgt_table = ElasticEmbedding(src_vocab_size, allocation.shared_embed_dim, padding_idx)
        else:
            src_table = ElasticEmbedding(src_vocab_size, allocation.encoder_embed_dim, padding_idx)
            tgt_table = ElasticEmbedding(tgt_vocab_size, allocation.decoder_embed_dim, padding_idx)
        self.encoder = Encoder(allocation, src_table, padding_idx, dropout, attention_dropout)
        self.decoder = Decoder(allocation, tgt_table, tgt_vocab_size, padding_idx, dropout, attention_dropout)
        self.config: SubConfig | None = None

    def hyperparameters(self) -> dict[str, Any]:
        """Plain values that rebuild this module: SuperTransformer.from_hyperparameters(...)."""
        return {
            "allocation": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.allocation).items()},
            "src_vocab_size": self.vocab_sizes[0],
            "tgt_vocab_size": self.vocab_sizes[1],
            "padding_idx": self.padding_idx,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
        }

    @classmethod
    def from_hyperparameters(cls, values: dict[str, Any]) -> SuperTransformer:
        values = dict(values)
        allocation = Allocation.from_dict(values.pop("allocation"))
        return cls(allocation, **values)

    def set_sample_config(self, config: SubConfig) -> None:
        """Select the active SubTransformer (no copies: later forwards slice views)."""
        self._check_fits(config)
        self.config = self.encoder.config = self.decoder.config = config

    def _check_fits(self, config: SubConfig) -> None:
        a = self.allocation
        config.check_lengths()
        fits = (
            config.encoder_embed_dim <= a.encoder_embed_dim
            and config.decoder_embed_dim <= a.decoder_embed_dim
            and config.encoder_layer_num <= len(a.encoder_ffn_embed_dims)
            and config.decoder_layer_num <= len(a.decoder_ffn_embed_dims)
            and all(f <= s for f, s in zip(config.encoder_ffn_embed_dim, a.encoder_ffn_embed_dims))
            and all(f <= s for f, s in zip(config.decoder_ffn_embed_dim, a.decoder_ffn_embed_dims))
            and all(
                a.qkv_dim % h == 0
                for h in config.encoder_self_attention_heads
                + config.decoder_self_attention_heads
                + config.decoder_ende_attention_heads
            )
            and max(encoder_layers_attended(x) for x in config.decoder_arbitrary_ende_attn) <= config.encoder_layer_num
        )
        if not fits:
            raise ValueError(f"SubTransformer does not fit this model's allocation: {config}")

    def forward(self, src_tokens: Tensor, src_lengths: Tensor | None, prev_output_tokens: Tensor) -> Tensor:
        """Teacher-forced pass: logits [B, T, V]."""
        return self.decoder(prev_output_tokens, self.encoder(src_tokens, src_lengths))

    def max_positions(self) -> int:
        return MAX_POSITIONS
