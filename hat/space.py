"""Design spaces and SubTransformer configs (hat-spec §1, §3.6, §5).

A `DesignSpace` is HAT's SuperTransformer YAML: the super shape (widths, layer counts, heads,
qkv-dim) plus one list of choices per elastic dimension. A `SubConfig` is one SubTransformer:
the ten `*-subtransformer` keys of HAT's YAML, with per-layer lists cut to the active layers.

Everything here is stdlib + yaml, so that any stage (a Raspberry Pi measuring latency, the
search) can describe architectures without torch or fairseq.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hat.errors import HatError

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
        return {hat_key: _plain(getattr(self, field)) for hat_key, field in SUBTRANSFORMER_KEYS.items()}

    def to_nested_dict(self) -> dict[str, dict[str, Any]]:
        """HAT's internal {'encoder': {...}, 'decoder': {...}} form."""
        out: dict[str, dict[str, Any]] = {"encoder": {}, "decoder": {}}
        for field in dataclasses.fields(self):
            out[field.name.split("_", 1)[0]][field.name] = _plain(getattr(self, field.name))
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
        fields: dict[str, Any] = {}
        for hat_key, field in SUBTRANSFORMER_KEYS.items():
            value = values[hat_key]
            if field in _SCALAR_FIELDS:
                if not _is_int(value):
                    raise HatError(f"{source}: {hat_key} must be an integer, got {value!r}")
                fields[field] = int(value)
            else:
                if not isinstance(value, (list, tuple)) or not all(_is_int(v) for v in value):
                    raise HatError(f"{source}: {hat_key} must be a list of integers, got {value!r}")
                fields[field] = tuple(int(v) for v in value)
        config = cls(**fields)
        config.check_lengths(source)
        return config

    def check_lengths(self, source: str = "config") -> None:
        for hat_key, field in SUBTRANSFORMER_KEYS.items():
            if field in _SCALAR_FIELDS:
                continue
            expected = self.encoder_layer_num if field.startswith("encoder") else self.decoder_layer_num
            got = len(getattr(self, field))
            if got != expected:
                side = field.split("_", 1)[0]
                raise HatError(
                    f"{source}: {hat_key} has {got} entries, expected {expected} ({side}-layer-num-subtransformer)"
                )


# HAT YAML key -> SubConfig field, in HAT's file order.
SUBTRANSFORMER_KEYS: dict[str, str] = {
    "encoder-embed-dim-subtransformer": "encoder_embed_dim",
    "decoder-embed-dim-subtransformer": "decoder_embed_dim",
    "encoder-ffn-embed-dim-all-subtransformer": "encoder_ffn_embed_dim",
    "decoder-ffn-embed-dim-all-subtransformer": "decoder_ffn_embed_dim",
    "encoder-layer-num-subtransformer": "encoder_layer_num",
    "decoder-layer-num-subtransformer": "decoder_layer_num",
    "encoder-self-attention-heads-all-subtransformer": "encoder_self_attention_heads",
    "decoder-self-attention-heads-all-subtransformer": "decoder_self_attention_heads",
    "decoder-ende-attention-heads-all-subtransformer": "decoder_ende_attention_heads",
    "decoder-arbitrary-ende-attn-all-subtransformer": "decoder_arbitrary_ende_attn",
}
_SCALAR_FIELDS = {"encoder_embed_dim", "decoder_embed_dim", "encoder_layer_num", "decoder_layer_num"}
_FIELD_TO_HAT_KEY = {field: key for key, field in SUBTRANSFORMER_KEYS.items()}


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

FEATURE_NAMES: tuple[str, ...] = (
    "encoder_embed_dim",
    "encoder_layer_num",
    "encoder_ffn_embed_dim_avg",
    "encoder_self_attention_heads_avg",
    "decoder_embed_dim",
    "decoder_layer_num",
    "decoder_ffn_embed_dim_avg",
    "decoder_self_attention_heads_avg",
    "decoder_ende_attention_heads_avg",
    "decoder_arbitrary_ende_attn_avg",
)


def encoder_layers_attended(arbitrary: int) -> int:
    """HAT's arbitrary-attention code -> number of top encoder layers attended (-1→1, 1→2, 2→3)."""
    return 1 if arbitrary == -1 else arbitrary + 1


def hat_features(config: SubConfig) -> list[float]:
    """The 10 predictor features in HAT's CSV column order."""

    def mean(values: Sequence[float]) -> float:
        return sum(values) / len(values)

    return [
        config.encoder_embed_dim,
        config.encoder_layer_num,
        mean(config.encoder_ffn_embed_dim),
        mean(config.encoder_self_attention_heads),
        config.decoder_embed_dim,
        config.decoder_layer_num,
        mean(config.decoder_ffn_embed_dim),
        mean(config.decoder_self_attention_heads),
        mean(config.decoder_ende_attention_heads),
        mean([encoder_layers_attended(a) for a in config.decoder_arbitrary_ende_attn]),
    ]


# --------------------------------------------------------------------------------------------
# Design spaces

# HAT YAML key -> DesignSpace field for the super shape and the choice lists.
_SUPER_KEYS: dict[str, str] = {
    "encoder-embed-dim": "encoder_embed_dim",
    "decoder-embed-dim": "decoder_embed_dim",
    "encoder-ffn-embed-dim": "encoder_ffn_embed_dim",
    "decoder-ffn-embed-dim": "decoder_ffn_embed_dim",
    "encoder-layers": "encoder_layers",
    "decoder-layers": "decoder_layers",
    "encoder-attention-heads": "encoder_attention_heads",
    "decoder-attention-heads": "decoder_attention_heads",
    "qkv-dim": "qkv_dim",
}
_CHOICE_KEYS: dict[str, str] = {
    "encoder-embed-choice": "encoder_embed_choice",
    "decoder-embed-choice": "decoder_embed_choice",
    "encoder-ffn-embed-dim-choice": "encoder_ffn_embed_dim_choice",
    "decoder-ffn-embed-dim-choice": "decoder_ffn_embed_dim_choice",
    "encoder-layer-num-choice": "encoder_layer_num_choice",
    "decoder-layer-num-choice": "decoder_layer_num_choice",
    "encoder-self-attention-heads-choice": "encoder_self_attention_heads_choice",
    "decoder-self-attention-heads-choice": "decoder_self_attention_heads_choice",
    "decoder-ende-attention-heads-choice": "decoder_ende_attention_heads_choice",
    "decoder-arbitrary-ende-attn-choice": "decoder_arbitrary_ende_attn_choice",
}
# SubConfig field -> DesignSpace choice field that constrains it.
_CHOICE_OF_FIELD: dict[str, str] = {
    "encoder_embed_dim": "encoder_embed_choice",
    "decoder_embed_dim": "decoder_embed_choice",
    "encoder_layer_num": "encoder_layer_num_choice",
    "decoder_layer_num": "decoder_layer_num_choice",
    "encoder_ffn_embed_dim": "encoder_ffn_embed_dim_choice",
    "encoder_self_attention_heads": "encoder_self_attention_heads_choice",
    "decoder_ffn_embed_dim": "decoder_ffn_embed_dim_choice",
    "decoder_self_attention_heads": "decoder_self_attention_heads_choice",
    "decoder_ende_attention_heads": "decoder_ende_attention_heads_choice",
    "decoder_arbitrary_ende_attn": "decoder_arbitrary_ende_attn_choice",
}
ARBITRARY_CODES = (-1, 1, 2)


@dataclass(frozen=True)
class DesignSpace:
    """HAT's SuperTransformer shape plus its search space (a `supertransformer/*.yml` file)."""

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
        for key, field in _SUPER_KEYS.items():
            if key not in values:
                raise HatError(f"{source}: missing key '{key}'")
            if not _is_int(values[key]) or values[key] <= 0:
                raise HatError(f"{source}: {key} must be a positive integer, got {values[key]!r}")
            fields[field] = values[key]
        for key, field in _CHOICE_KEYS.items():
            if key not in values:
                raise HatError(f"{source}: missing key '{key}'")
            choices = values[key]
            if not isinstance(choices, list) or not choices or not all(_is_int(c) for c in choices):
                raise HatError(f"{source}: {key} must be a non-empty list of integers, got {choices!r}")
            fields[field] = tuple(choices)
        space = cls(**fields)
        space._check(source)
        return space

    def _check(self, source: str) -> None:
        def fail(key: str, message: str) -> None:
            raise HatError(f"{source}: {key} {message}")

        for side in ("encoder", "decoder"):
            embed = getattr(self, f"{side}_embed_dim")
            if max(getattr(self, f"{side}_embed_choice")) > embed:
                fail(f"{side}-embed-choice", f"exceeds {side}-embed-dim {embed}")
            ffn = getattr(self, f"{side}_ffn_embed_dim")
            if max(getattr(self, f"{side}_ffn_embed_dim_choice")) > ffn:
                fail(f"{side}-ffn-embed-dim-choice", f"exceeds {side}-ffn-embed-dim {ffn}")
            layers = getattr(self, f"{side}_layers")
            layer_choice = getattr(self, f"{side}_layer_num_choice")
            if max(layer_choice) > layers or min(layer_choice) < 1:
                fail(f"{side}-layer-num-choice", f"must lie in 1..{side}-layers ({layers})")
        for key, field in _CHOICE_KEYS.items():
            if "heads" in field:
                bad = [h for h in getattr(self, field) if h <= 0 or self.qkv_dim % h]
                if bad:
                    fail(key, f"has {bad[0]} heads, which does not divide qkv-dim {self.qkv_dim}")
        bad_arbitrary = set(self.decoder_arbitrary_ende_attn_choice) - set(ARBITRARY_CODES)
        if bad_arbitrary:
            fail("decoder-arbitrary-ende-attn-choice", f"allows only {list(ARBITRARY_CODES)}")
        if max(encoder_layers_attended(a) for a in self.decoder_arbitrary_ende_attn_choice) > min(
            self.encoder_layer_num_choice
        ):
            fail("decoder-arbitrary-ende-attn-choice", "attends to more encoder layers than the encoder has")
        if self.share_all_embeddings and self.encoder_embed_dim != self.decoder_embed_dim:
            fail("share-all-embeddings", "needs encoder-embed-dim == decoder-embed-dim")

    def to_hat_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"share-all-embeddings": self.share_all_embeddings}
        out.update({key: getattr(self, field) for key, field in _SUPER_KEYS.items()})
        out.update({key: list(getattr(self, field)) for key, field in _CHOICE_KEYS.items()})
        return out

    def choices_for(self, field: str) -> tuple[int, ...]:
        return getattr(self, _CHOICE_OF_FIELD[field])

    # ---- validation ---------------------------------------------------------------------

    def validate(self, config: SubConfig, source: str = "config") -> None:
        """Raise a one-line HatError naming the first key whose value the space does not offer."""
        config.check_lengths(source)
        for field, choice_field in _CHOICE_OF_FIELD.items():
            allowed = getattr(self, choice_field)
            value = getattr(config, field)
            values = value if isinstance(value, tuple) else (value,)
            hat_key = _FIELD_TO_HAT_KEY[field]
            if "heads" in field:
                for heads in values:
                    if heads <= 0 or self.qkv_dim % heads:
                        raise HatError(
                            f"{source}: {hat_key}: {heads} heads do not divide qkv-dim {self.qkv_dim} "
                            f"(allowed: {list(allowed)})"
                        )
            for v in values:
                if v not in allowed:
                    raise HatError(f"{source}: {hat_key}: {v} is not in the space (allowed: {list(allowed)})")

    # ---- special members ----------------------------------------------------------------

    def largest(self, arbitrary: int = 1) -> SubConfig:
        """HAT's `largest_arbitrary1` validation config (max everything, every decoder layer `arbitrary`)."""
        return self._extreme(max, arbitrary)

    def smallest(self, arbitrary: int = 1) -> SubConfig:
        """HAT's `smallest_arbitrary1` validation config (min widths/heads/decoder depth)."""
        return self._extreme(min, arbitrary)

    def _extreme(self, pick, arbitrary: int) -> SubConfig:
        enc_layers = max(self.encoder_layer_num_choice)  # HAT keeps 6 encoder layers in both
        dec_layers = pick(self.decoder_layer_num_choice)
        return SubConfig(
            encoder_embed_dim=pick(self.encoder_embed_choice),
            decoder_embed_dim=pick(self.decoder_embed_choice),
            encoder_layer_num=enc_layers,
            decoder_layer_num=dec_layers,
            encoder_ffn_embed_dim=(pick(self.encoder_ffn_embed_dim_choice),) * enc_layers,
            encoder_self_attention_heads=(pick(self.encoder_self_attention_heads_choice),) * enc_layers,
            decoder_ffn_embed_dim=(pick(self.decoder_ffn_embed_dim_choice),) * dec_layers,
            decoder_self_attention_heads=(pick(self.decoder_self_attention_heads_choice),) * dec_layers,
            decoder_ende_attention_heads=(pick(self.decoder_ende_attention_heads_choice),) * dec_layers,
            decoder_arbitrary_ende_attn=(arbitrary,) * dec_layers,
        )

    def full_config(self) -> SubConfig:
        """The SuperTransformer itself as a SubConfig (super widths, all layers, arbitrary -1)."""
        return SubConfig(
            encoder_embed_dim=self.encoder_embed_dim,
            decoder_embed_dim=self.decoder_embed_dim,
            encoder_layer_num=self.encoder_layers,
            decoder_layer_num=self.decoder_layers,
            encoder_ffn_embed_dim=(self.encoder_ffn_embed_dim,) * self.encoder_layers,
            encoder_self_attention_heads=(self.encoder_attention_heads,) * self.encoder_layers,
            decoder_ffn_embed_dim=(self.decoder_ffn_embed_dim,) * self.decoder_layers,
            decoder_self_attention_heads=(self.decoder_attention_heads,) * self.decoder_layers,
            decoder_ende_attention_heads=(self.decoder_attention_heads,) * self.decoder_layers,
            decoder_arbitrary_ende_attn=(-1,) * self.decoder_layers,
        )

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
        """One uniform SubTransformer, with HAT's order of `random.choice` draws (spec §2)."""
        enc_embed = rng.choice(self.encoder_embed_choice)
        dec_embed = rng.choice(self.decoder_embed_choice)
        enc_layers = rng.choice(self.encoder_layer_num_choice)
        dec_layers = rng.choice(self.decoder_layer_num_choice)
        enc_ffn, enc_heads = [], []
        for _ in range(enc_layers):
            enc_ffn.append(rng.choice(self.encoder_ffn_embed_dim_choice))
            enc_heads.append(rng.choice(self.encoder_self_attention_heads_choice))
        dec_ffn, dec_self, dec_ende = [], [], []
        for _ in range(dec_layers):
            dec_ffn.append(rng.choice(self.decoder_ffn_embed_dim_choice))
            dec_self.append(rng.choice(self.decoder_self_attention_heads_choice))
            dec_ende.append(rng.choice(self.decoder_ende_attention_heads_choice))
        arbitrary = [rng.choice(self.decoder_arbitrary_ende_attn_choice) for _ in range(self.decoder_layers)]
        return SubConfig(
            encoder_embed_dim=enc_embed,
            decoder_embed_dim=dec_embed,
            encoder_layer_num=enc_layers,
            decoder_layer_num=dec_layers,
            encoder_ffn_embed_dim=tuple(enc_ffn),
            encoder_self_attention_heads=tuple(enc_heads),
            decoder_ffn_embed_dim=tuple(dec_ffn),
            decoder_self_attention_heads=tuple(dec_self),
            decoder_ende_attention_heads=tuple(dec_ende),
            decoder_arbitrary_ende_attn=tuple(arbitrary[:dec_layers]),
        )

    def size(self) -> int:
        """Number of distinct active architectures (junk genes of inactive layers not counted)."""
        per_enc_layer = len(self.encoder_ffn_embed_dim_choice) * len(self.encoder_self_attention_heads_choice)
        per_dec_layer = (
            len(self.decoder_ffn_embed_dim_choice)
            * len(self.decoder_self_attention_heads_choice)
            * len(self.decoder_ende_attention_heads_choice)
            * len(self.decoder_arbitrary_ende_attn_choice)
        )
        encoders = len(self.encoder_embed_choice) * sum(per_enc_layer**n for n in set(self.encoder_layer_num_choice))
        decoders = len(self.decoder_embed_choice) * sum(per_dec_layer**n for n in set(self.decoder_layer_num_choice))
        return encoders * decoders

    # ---- genes (spec §5): a flat list over all super layers, junk past the active count ----

    def gene_choices(self) -> list[tuple[int, ...]]:
        """The choice list of each gene position: [enc_embed, enc_layers, enc_ffn×E, enc_heads×E,
        dec_embed, dec_layers, dec_ffn×D, dec_self×D, dec_ende×D, dec_arbitrary×D]."""
        E, D = self.encoder_layers, self.decoder_layers
        return (
            [self.encoder_embed_choice, self.encoder_layer_num_choice]
            + [self.encoder_ffn_embed_dim_choice] * E
            + [self.encoder_self_attention_heads_choice] * E
            + [self.decoder_embed_choice, self.decoder_layer_num_choice]
            + [self.decoder_ffn_embed_dim_choice] * D
            + [self.decoder_self_attention_heads_choice] * D
            + [self.decoder_ende_attention_heads_choice] * D
            + [self.decoder_arbitrary_ende_attn_choice] * D
        )

    def random_gene(self, rng: random.Random) -> list[int]:
        return [rng.choice(choices) for choices in self.gene_choices()]

    def config_from_gene(self, gene: Sequence[int]) -> SubConfig:
        E, D = self.encoder_layers, self.decoder_layers
        if len(gene) != 2 * E + 4 * D + 4:
            raise HatError(f"gene has {len(gene)} entries, expected {2 * E + 4 * D + 4}")
        enc_embed, enc_layers = gene[0], gene[1]
        enc_ffn = gene[2 : 2 + E]
        enc_heads = gene[2 + E : 2 + 2 * E]
        d0 = 2 + 2 * E
        dec_embed, dec_layers = gene[d0], gene[d0 + 1]
        dec_lists = [gene[d0 + 2 + k * D : d0 + 2 + (k + 1) * D] for k in range(4)]
        return SubConfig(
            encoder_embed_dim=enc_embed,
            decoder_embed_dim=dec_embed,
            encoder_layer_num=enc_layers,
            decoder_layer_num=dec_layers,
            encoder_ffn_embed_dim=tuple(enc_ffn[:enc_layers]),
            encoder_self_attention_heads=tuple(enc_heads[:enc_layers]),
            decoder_ffn_embed_dim=tuple(dec_lists[0][:dec_layers]),
            decoder_self_attention_heads=tuple(dec_lists[1][:dec_layers]),
            decoder_ende_attention_heads=tuple(dec_lists[2][:dec_layers]),
            decoder_arbitrary_ende_attn=tuple(dec_lists[3][:dec_layers]),
        )

    def gene_from_config(self, config: SubConfig) -> list[int]:
        """Inverse of `config_from_gene`; inactive positions repeat the last active layer's value."""

        def padded(values: tuple[int, ...], length: int) -> list[int]:
            return list(values) + [values[-1]] * (length - len(values))

        E, D = self.encoder_layers, self.decoder_layers
        return (
            [config.encoder_embed_dim, config.encoder_layer_num]
            + padded(config.encoder_ffn_embed_dim, E)
            + padded(config.encoder_self_attention_heads, E)
            + [config.decoder_embed_dim, config.decoder_layer_num]
            + padded(config.decoder_ffn_embed_dim, D)
            + padded(config.decoder_self_attention_heads, D)
            + padded(config.decoder_ende_attention_heads, D)
            + padded(config.decoder_arbitrary_ende_attn, D)
        )


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
