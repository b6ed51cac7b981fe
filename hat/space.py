"""Design spaces and SubTransformer configs (hat-spec §1, §3.6, §5).

A `DesignSpace` is HAT's SuperTransformer YAML: the super shape (widths, layer counts, heads,
qkv-dim) plus one list of choices per elastic dimension. A `SubConfig` is one SubTransformer:
the ten `*-subtransformer` keys of HAT's YAML, with per-layer lists cut to the active layers.
`DIMENSIONS` is the one table of the ten elastic dimensions: HAT's keys, the gene layout, HAT's
sampling order, the extreme and full configs and the latency features all derive from it.

Everything here is stdlib + yaml, so that any stage (a Raspberry Pi measuring latency, the
search) can describe architectures without torch or fairseq.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hat.errors import HatError

# --------------------------------------------------------------------------------------------
# The elastic dimensions (spec §1): one table. HAT's key maps, the gene layout, the sampling
# draws, the extreme and full configs, the size and the latency features all derive from it.

WIDTH, LAYERS, HEADS, ARBITRARY = "width", "layers", "heads", "arbitrary"
ARBITRARY_CODES = (-1, 1, 2)
ATTEND_LAST_LAYER = -1  # HAT's arbitrary-attention code of plain encoder-decoder attention
SIDES = ("encoder", "decoder")


@dataclass(frozen=True)
class Dimension:
    """One elastic dimension: a SubConfig field and the HAT keys that describe it."""

    field: str  # SubConfig field; its side and its HAT SubTransformer key derive from it
    choice_key: str  # its choice list in a SuperTransformer YAML (the DesignSpace field derives from it)
    bound_key: str | None  # the super-shape key bounding it, whose value the SuperTransformer itself has
    kind: str  # WIDTH: choices <= bound; LAYERS: 1..bound; HEADS: divide qkv-dim; ARBITRARY: HAT's codes
    per_layer: bool  # one value per active layer (HAT's `*-all-subtransformer` keys)
    kept_at_max: bool = False  # HAT's largest and smallest validation configs both take the largest choice

    @property
    def side(self) -> str:
        return self.field.split("_", 1)[0]

    @property
    def sub_key(self) -> str:
        """HAT's SubTransformer YAML key, e.g. encoder-ffn-embed-dim-all-subtransformer."""
        return self.field.replace("_", "-") + ("-all" if self.per_layer else "") + "-subtransformer"

    @property
    def choice_field(self) -> str:
        return self.choice_key.replace("-", "_")

    @property
    def bound_field(self) -> str | None:
        return None if self.bound_key is None else self.bound_key.replace("-", "_")

    @property
    def feature(self) -> str:
        """Its latency-feature column (spec §3.6): per-layer values are averaged over the active layers."""
        return self.field + ("_avg" if self.per_layer else "")


# In HAT's file order, which is also the order of HAT's sampling draws (DesignSpace.sample).
# Columns: field, choice key, bound key, kind, per_layer[, kept_at_max].
DIMENSIONS: tuple[Dimension, ...] = tuple(
    Dimension(*row)
    for row in (
        ("encoder_embed_dim", "encoder-embed-choice", "encoder-embed-dim", WIDTH, False),
        ("decoder_embed_dim", "decoder-embed-choice", "decoder-embed-dim", WIDTH, False),
        ("encoder_ffn_embed_dim", "encoder-ffn-embed-dim-choice", "encoder-ffn-embed-dim", WIDTH, True),
        ("decoder_ffn_embed_dim", "decoder-ffn-embed-dim-choice", "decoder-ffn-embed-dim", WIDTH, True),
        ("encoder_layer_num", "encoder-layer-num-choice", "encoder-layers", LAYERS, False, True),
        ("decoder_layer_num", "decoder-layer-num-choice", "decoder-layers", LAYERS, False),
        ("encoder_self_attention_heads", "encoder-self-attention-heads-choice", "encoder-attention-heads", HEADS, True),
        ("decoder_self_attention_heads", "decoder-self-attention-heads-choice", "decoder-attention-heads", HEADS, True),
        ("decoder_ende_attention_heads", "decoder-ende-attention-heads-choice", "decoder-attention-heads", HEADS, True),
        ("decoder_arbitrary_ende_attn", "decoder-arbitrary-ende-attn-choice", None, ARBITRARY, True),
    )
)  # fmt: skip
_BY_FIELD = {dim.field: dim for dim in DIMENSIONS}
_LAYER_COUNT = {dim.side: dim for dim in DIMENSIONS if dim.kind == LAYERS}  # side -> its layer-num dimension
# Genes and latency features (spec §5, §3.6): per side, its scalars, then its per-layer lists.
GENE_ORDER: tuple[Dimension, ...] = tuple(sorted(DIMENSIONS, key=lambda dim: (SIDES.index(dim.side), dim.per_layer)))
# HAT YAML key -> SubConfig field, in HAT's file order.
SUBTRANSFORMER_KEYS: dict[str, str] = {dim.sub_key: dim.field for dim in DIMENSIONS}


# --------------------------------------------------------------------------------------------
# SubTransformer configs


@dataclass(frozen=True)
class SubConfig:
    """One SubTransformer. Per-layer tuples have exactly `*_layer_num` entries."""

    encoder_embed_dim: int
    decoder_embed_dim: int
    encoder_layer_num: int
    decoder_layer_num: int
    encoder_ffn_embed_dim: tuple[int, ...]
    encoder_self_attention_heads: tuple[int, ...]
    decoder_ffn_embed_dim: tuple[int, ...]
    decoder_self_attention_heads: tuple[int, ...]
    decoder_ende_attention_heads: tuple[int, ...]
    decoder_arbitrary_ende_attn: tuple[int, ...]

    def to_hat_dict(self) -> dict[str, Any]:
        """HAT's YAML keys (spec §1.1), lists as Python lists."""
        return {dim.sub_key: _plain(getattr(self, dim.field)) for dim in DIMENSIONS}

    def to_nested_dict(self) -> dict[str, dict[str, Any]]:
        """HAT's internal {'encoder': {...}, 'decoder': {...}} form."""
        out: dict[str, dict[str, Any]] = {side: {} for side in SIDES}
        for field in dataclasses.fields(self):
            out[_BY_FIELD[field.name].side][field.name] = _plain(getattr(self, field.name))
        return out

    @classmethod
    def from_hat_dict(cls, values: dict[str, Any], source: str = "config") -> SubConfig:
        """Parse HAT's ten keys; unknown, missing or mistyped keys are one-line HatErrors."""
        unknown = sorted(set(values) - set(SUBTRANSFORMER_KEYS))
        if unknown:
            raise HatError(f"{source}: unknown key '{unknown[0]}' (allowed: {', '.join(SUBTRANSFORMER_KEYS)})")
        missing = [key for key in SUBTRANSFORMER_KEYS if key not in values]
        if missing:
            raise HatError(f"{source}: missing key '{missing[0]}'")
        config = cls(**{dim.field: _parse_value(dim, values[dim.sub_key], source) for dim in DIMENSIONS})
        config.check_lengths(source)
        return config

    def layers(self, side: str) -> int:
        """The active layer count of `side` ("encoder" or "decoder")."""
        return getattr(self, _LAYER_COUNT[side].field)

    def check_lengths(self, source: str = "config") -> None:
        for dim in (dim for dim in DIMENSIONS if dim.per_layer):
            expected, got = self.layers(dim.side), len(getattr(self, dim.field))
            if got != expected:
                raise HatError(
                    f"{source}: {dim.sub_key} has {got} entries, expected {expected} ({_LAYER_COUNT[dim.side].sub_key})"
                )


def _parse_value(dim: Dimension, value: Any, source: str) -> int | tuple[int, ...]:
    if not dim.per_layer:
        if not _is_int(value):
            raise HatError(f"{source}: {dim.sub_key} must be an integer, got {value!r}")
        return int(value)
    if not isinstance(value, (list, tuple)) or not all(_is_int(v) for v in value):
        raise HatError(f"{source}: {dim.sub_key} must be a list of integers, got {value!r}")
    return tuple(int(v) for v in value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def read_subconfig(path: str | os.PathLike) -> SubConfig:
    """Read a HAT SubTransformer YAML (HAT's published files load unchanged)."""
    return SubConfig.from_hat_dict(_read_yaml_mapping(path), source=str(path))


def format_subconfig(config: SubConfig) -> str:
    """HAT's file layout: one key per line, lists in flow style, a comment on the arbitrary key."""
    values = config.to_hat_dict()
    lines = []
    for hat_key in SUBTRANSFORMER_KEYS:
        if hat_key == "decoder-arbitrary-ende-attn-all-subtransformer":
            lines.append("# for arbitrary encoder decoder attention. -1 means attending to last one encoder layer")
            lines.append("# 1 means last two encoder layers, 2 means last three encoder layers")
        lines.append(f"{hat_key}: {values[hat_key]}")
    return "\n".join(lines) + "\n"


def write_subconfig(config: SubConfig, path: str | os.PathLike) -> None:
    from hat.io import write_text_atomic

    write_text_atomic(path, format_subconfig(config))


# --------------------------------------------------------------------------------------------
# Latency features (spec §3.6): 10 averages over the active layers.

FEATURE_NAMES: tuple[str, ...] = tuple(dim.feature for dim in GENE_ORDER)


def encoder_layers_attended(arbitrary: int) -> int:
    """HAT's arbitrary-attention code -> number of top encoder layers attended (-1→1, 1→2, 2→3)."""
    return 1 if arbitrary == -1 else arbitrary + 1


def hat_features(config: SubConfig) -> list[float]:
    """The 10 predictor features in HAT's CSV column order (`FEATURE_NAMES`)."""
    return [_feature(dim, getattr(config, dim.field)) for dim in GENE_ORDER]


def _feature(dim: Dimension, value: int | tuple[int, ...]) -> float:
    if not dim.per_layer:
        return value
    values = [encoder_layers_attended(code) for code in value] if dim.kind == ARBITRARY else value
    return sum(values) / len(values)


# --------------------------------------------------------------------------------------------
# Design spaces

# The super-shape keys of a SuperTransformer YAML: the dimensions' bounds, then qkv-dim.
_SUPER_KEYS: tuple[str, ...] = (*dict.fromkeys(dim.bound_key for dim in DIMENSIONS if dim.bound_key), "qkv-dim")


@dataclass(frozen=True)
class DesignSpace:
    """HAT's SuperTransformer shape plus its search space (a `supertransformer/*.yml` file).
    The fields are the super-shape keys and the choice keys of `DIMENSIONS`, underscored."""

    name: str
    encoder_embed_dim: int
    decoder_embed_dim: int
    encoder_ffn_embed_dim: int
    decoder_ffn_embed_dim: int
    encoder_layers: int
    decoder_layers: int
    encoder_attention_heads: int
    decoder_attention_heads: int
    qkv_dim: int
    encoder_embed_choice: tuple[int, ...]
    decoder_embed_choice: tuple[int, ...]
    encoder_ffn_embed_dim_choice: tuple[int, ...]
    decoder_ffn_embed_dim_choice: tuple[int, ...]
    encoder_layer_num_choice: tuple[int, ...]
    decoder_layer_num_choice: tuple[int, ...]
    encoder_self_attention_heads_choice: tuple[int, ...]
    decoder_self_attention_heads_choice: tuple[int, ...]
    decoder_ende_attention_heads_choice: tuple[int, ...]
    decoder_arbitrary_ende_attn_choice: tuple[int, ...]
    share_all_embeddings: bool = False

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_hat_dict(cls, values: dict[str, Any], name: str, source: str = "space") -> DesignSpace:
        """Read the super-shape and choice keys of a HAT SuperTransformer YAML; other keys
        (optimizer, lr, ...) belong to training and are ignored here."""
        fields: dict[str, Any] = {"name": name, "share_all_embeddings": bool(values.get("share-all-embeddings", False))}
        for key in _SUPER_KEYS:
            if key not in values:
                raise HatError(f"{source}: missing key '{key}'")
            if not _is_int(values[key]) or values[key] <= 0:
                raise HatError(f"{source}: {key} must be a positive integer, got {values[key]!r}")
            fields[key.replace("-", "_")] = values[key]
        for dim in DIMENSIONS:
            if dim.choice_key not in values:
                raise HatError(f"{source}: missing key '{dim.choice_key}'")
            choices = values[dim.choice_key]
            if not isinstance(choices, list) or not choices or not all(_is_int(c) for c in choices):
                raise HatError(f"{source}: {dim.choice_key} must be a non-empty list of integers, got {choices!r}")
            fields[dim.choice_field] = tuple(choices)
        space = cls(**fields)
        space._check(source)
        return space

    def _check(self, source: str) -> None:
        for dim in DIMENSIONS:
            problem = self._choice_problem(dim)
            if problem:
                raise HatError(f"{source}: {dim.choice_key} {problem}")
        if self.share_all_embeddings and self.encoder_embed_dim != self.decoder_embed_dim:
            raise HatError(f"{source}: share-all-embeddings needs encoder-embed-dim == decoder-embed-dim")

    def _choice_problem(self, dim: Dimension) -> str | None:
        """What is wrong with the choice list of `dim` given the super shape, or None."""
        choices = self.choices_for(dim.field)
        bound = getattr(self, dim.bound_field) if dim.bound_field else None
        if dim.kind == WIDTH and max(choices) > bound:
            return f"exceeds {dim.bound_key} {bound}"
        if dim.kind == LAYERS and (max(choices) > bound or min(choices) < 1):
            return f"must lie in 1..{dim.bound_key} ({bound})"
        if dim.kind == HEADS:
            bad = [heads for heads in choices if heads <= 0 or self.qkv_dim % heads]
            return f"has {bad[0]} heads, which does not divide qkv-dim {self.qkv_dim}" if bad else None
        if dim.kind == ARBITRARY:
            if set(choices) - set(ARBITRARY_CODES):
                return f"allows only {list(ARBITRARY_CODES)}"
            if max(map(encoder_layers_attended, choices)) > min(self.choices_for(_LAYER_COUNT["encoder"].field)):
                return "attends to more encoder layers than the encoder has"
        return None

    def to_hat_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"share-all-embeddings": self.share_all_embeddings}
        out.update({key: getattr(self, key.replace("-", "_")) for key in _SUPER_KEYS})
        out.update({dim.choice_key: list(self.choices_for(dim.field)) for dim in DIMENSIONS})
        return out

    def choices_for(self, field: str) -> tuple[int, ...]:
        """The choice list of a SubConfig field."""
        return getattr(self, _BY_FIELD[field].choice_field)

    def layers(self, side: str) -> int:
        """The SuperTransformer's layer count of `side` ("encoder" or "decoder")."""
        return getattr(self, _LAYER_COUNT[side].bound_field)

    # ---- validation ---------------------------------------------------------------------

    def validate(self, config: SubConfig, source: str = "config") -> None:
        """Raise a one-line HatError naming the first key whose value the space does not offer."""
        config.check_lengths(source)
        for dim in DIMENSIONS:
            allowed = self.choices_for(dim.field)
            value = getattr(config, dim.field)
            for v in value if dim.per_layer else (value,):
                if dim.kind == HEADS and (v <= 0 or self.qkv_dim % v):
                    raise HatError(
                        f"{source}: {dim.sub_key}: {v} heads do not divide qkv-dim {self.qkv_dim} "
                        f"(allowed: {list(allowed)})"
                    )
                if v not in allowed:
                    raise HatError(f"{source}: {dim.sub_key}: {v} is not in the space (allowed: {list(allowed)})")

    # ---- special members ----------------------------------------------------------------

    def largest(self, arbitrary: int = 1) -> SubConfig:
        """HAT's `largest_arbitrary1` validation config (max everything, every decoder layer `arbitrary`)."""
        return self._extreme(max, arbitrary)

    def smallest(self, arbitrary: int = 1) -> SubConfig:
        """HAT's `smallest_arbitrary1` validation config (min widths/heads/decoder depth; HAT keeps
        every encoder layer: `kept_at_max`)."""
        return self._extreme(min, arbitrary)

    def _extreme(self, pick: Callable[[Sequence[int]], int], arbitrary: int) -> SubConfig:
        def value(dim: Dimension) -> int:
            if dim.kind == ARBITRARY:
                return arbitrary
            return (max if dim.kept_at_max else pick)(self.choices_for(dim.field))

        return _same_in_every_layer(value)

    def full_config(self) -> SubConfig:
        """The SuperTransformer itself as a SubConfig (super widths, all layers, arbitrary -1)."""
        return _same_in_every_layer(lambda dim: getattr(self, dim.bound_field) if dim.bound_key else ATTEND_LAST_LAYER)

    def uniform(self, scale_pct: int) -> SubConfig:
        """A uniformly scaled Transformer of this space (the paper's baselines, issue 18): every
        layer has the same FFN width and heads, and every dimension (embedding widths, FFN widths,
        heads, layer counts) takes the choice `scale_pct` % of the way up its sorted choice list
        (0: the smallest choice, 100: the largest, halfway rounds up). Every decoder layer attends
        the fewest top encoder layers the space offers (the last one, as a standard Transformer)."""
        if not 0 <= scale_pct <= 100:
            raise HatError(f"baseline scale must lie in 0..100 (%), got {scale_pct}")

        def scaled(field: str) -> int:
            ordered = sorted(set(self.choices_for(field)))
            return ordered[int(scale_pct * (len(ordered) - 1) / 100 + 0.5)]

        enc_layers, dec_layers = scaled("encoder_layer_num"), scaled("decoder_layer_num")
        attend_last = min(self.choices_for("decoder_arbitrary_ende_attn"), key=encoder_layers_attended)
        return SubConfig(
            encoder_embed_dim=scaled("encoder_embed_dim"),
            decoder_embed_dim=scaled("decoder_embed_dim"),
            encoder_layer_num=enc_layers,
            decoder_layer_num=dec_layers,
            encoder_ffn_embed_dim=(scaled("encoder_ffn_embed_dim"),) * enc_layers,
            encoder_self_attention_heads=(scaled("encoder_self_attention_heads"),) * enc_layers,
            decoder_ffn_embed_dim=(scaled("decoder_ffn_embed_dim"),) * dec_layers,
            decoder_self_attention_heads=(scaled("decoder_self_attention_heads"),) * dec_layers,
            decoder_ende_attention_heads=(scaled("decoder_ende_attention_heads"),) * dec_layers,
            decoder_arbitrary_ende_attn=(attend_last,) * dec_layers,
        )

    # ---- sampling and size --------------------------------------------------------------

    def sample(self, rng: random.Random) -> SubConfig:
        """One uniform SubTransformer, with HAT's order of `random.choice` draws (spec §2): the
        scalars in file order; then per side, layer by layer, that layer's values in file order;
        then arbitrary attention for every super decoder layer, of which the active ones are kept."""
        values: dict[str, Any] = {}
        for dim in (dim for dim in DIMENSIONS if not dim.per_layer):
            values[dim.field] = rng.choice(self.choices_for(dim.field))
        for side in SIDES:
            dims = [dim for dim in DIMENSIONS if dim.side == side and dim.per_layer and dim.kind != ARBITRARY]
            layers = values[_LAYER_COUNT[side].field]
            rows = [[rng.choice(self.choices_for(dim.field)) for dim in dims] for _ in range(layers)]
            values.update({dim.field: tuple(row[k] for row in rows) for k, dim in enumerate(dims)})
        for dim in (dim for dim in DIMENSIONS if dim.kind == ARBITRARY):
            drawn = [rng.choice(self.choices_for(dim.field)) for _ in range(self.layers(dim.side))]
            values[dim.field] = tuple(drawn[: values[_LAYER_COUNT[dim.side].field]])
        return SubConfig(**values)

    def size(self) -> int:
        """Number of distinct active architectures (junk genes of inactive layers not counted)."""
        total = 1
        for side in SIDES:
            dims = [dim for dim in DIMENSIONS if dim.side == side and dim.kind != LAYERS]
            per_layer = math.prod(len(self.choices_for(dim.field)) for dim in dims if dim.per_layer)
            once = math.prod(len(self.choices_for(dim.field)) for dim in dims if not dim.per_layer)
            total *= once * sum(per_layer**n for n in set(self.choices_for(_LAYER_COUNT[side].field)))
        return total

    # ---- genes (spec §5): a flat list over all super layers, junk past the active count ----

    def _gene_width(self, dim: Dimension) -> int:
        return self.layers(dim.side) if dim.per_layer else 1

    def gene_choices(self) -> list[tuple[int, ...]]:
        """The choice list of each gene position (`GENE_ORDER`): [enc_embed, enc_layers, enc_ffn×E,
        enc_heads×E, dec_embed, dec_layers, dec_ffn×D, dec_self×D, dec_ende×D, dec_arbitrary×D]."""
        return [self.choices_for(dim.field) for dim in GENE_ORDER for _ in range(self._gene_width(dim))]

    def random_gene(self, rng: random.Random) -> list[int]:
        return [rng.choice(choices) for choices in self.gene_choices()]

    def config_from_gene(self, gene: Sequence[int]) -> SubConfig:
        expected = sum(self._gene_width(dim) for dim in GENE_ORDER)
        if len(gene) != expected:
            raise HatError(f"gene has {len(gene)} entries, expected {expected}")
        values: dict[str, Any] = {}
        start = 0
        for dim in GENE_ORDER:
            width = self._gene_width(dim)
            values[dim.field] = tuple(gene[start : start + width]) if dim.per_layer else gene[start]
            start += width
        for dim in (dim for dim in DIMENSIONS if dim.per_layer):
            values[dim.field] = values[dim.field][: values[_LAYER_COUNT[dim.side].field]]
        return SubConfig(**values)

    def gene_from_config(self, config: SubConfig) -> list[int]:
        """Inverse of `config_from_gene`; inactive positions repeat the last active layer's value."""
        gene: list[int] = []
        for dim in GENE_ORDER:
            value = getattr(config, dim.field)
            gene += (list(value) + [value[-1]] * (self._gene_width(dim) - len(value))) if dim.per_layer else [value]
        return gene


def _same_in_every_layer(value: Callable[[Dimension], int]) -> SubConfig:
    """The SubConfig with `value(dim)` in every dimension, per-layer ones repeated over the layers
    that their side's layer-num dimension gives."""
    values = {dim.field: value(dim) for dim in DIMENSIONS}
    for dim in (dim for dim in DIMENSIONS if dim.per_layer):
        values[dim.field] = (values[dim.field],) * values[_LAYER_COUNT[dim.side].field]
    return SubConfig(**values)


def _read_yaml_mapping(path: str | os.PathLike) -> dict[str, Any]:
    from hat.io import read_yaml

    path = Path(path)
    if not path.is_file():
        raise HatError(f"{path}: file not found")
    values = read_yaml(path)
    if not isinstance(values, dict):
        raise HatError(f"{path}: expected a mapping of keys to values")
    return values


def read_hat_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """A HAT config file as a dict (training keys included)."""
    return _read_yaml_mapping(path)


def load_space(path: str | os.PathLike, name: str | None = None) -> DesignSpace:
    """Load a HAT SuperTransformer (or latency-dataset) YAML as a DesignSpace."""
    return DesignSpace.from_hat_dict(_read_yaml_mapping(path), name=name or Path(path).stem, source=str(path))
