"""HAT's checkpoint files (fairseq 0.8 + HAT's transformer_super.py), read safely, converted both ways.

A HAT file is `torch.save` of fairseq 0.8's checkpoint dict

    {"args": argparse.Namespace, "model": state_dict, "optimizer_history": [...], "extra_state": {...}, ...}

or of a bare state dict. Its parameter names are HAT's (`fairseq/models/transformer_super.py`,
`fairseq/modules/*_super.py`); they differ from this project's in three places:

* the FFN is `layers.N.fc1/fc2` (ours: `layers.N.ffn.fc1/fc2`);
* encoder-decoder attention is one fused `in_proj_weight` [3*qkv, d] / `in_proj_bias` [3*qkv]
  (rows Q, K, V); ours stores the Q block and the KV block separately (docs/architecture.md);
* HAT's files carry bookkeeping buffers: `{encoder,decoder}.version` (3.0) and
  `{encoder,decoder}.embed_positions._float_tensor` (one float), which hold no weights.

Every tensor is at the SuperTransformer's width, even in HAT's SubTransformer checkpoints (HAT
trained a SubTransformer by sampling it inside the SuperTransformer; HAT issue #5): a
SubTransformer is its YAML's leading block of those tensors.

Loading executes no code from the file: torch's weights-only unpickler (tensor rebuilding and
builtin containers/scalars) with `argparse.Namespace` as the only admitted class. Any other
global in the pickle (a class, a function such as os.system) is refused with a one-line error.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

from hat.errors import HatError
from hat.space import DesignSpace, SubConfig
from hat.supernet import SuperTransformer

FILE_FORMAT = "hat-fairseq-0.8"
PADDING_IDX = 1  # fairseq's Dictionary: <s>=0, <pad>=1, </s>=2, <unk>=3
SPECIAL_SYMBOLS = 4
SIDES = ("encoder", "decoder")

# HAT's super-shape arguments -> DesignSpace fields (checked against the task's space on import).
SUPER_ARGS = (
    "encoder_embed_dim",
    "decoder_embed_dim",
    "encoder_ffn_embed_dim",
    "decoder_ffn_embed_dim",
    "encoder_layers",
    "decoder_layers",
    "qkv_dim",
    "share_all_embeddings",
)
# HAT/fairseq options this project's model does not implement: (argument, the value it supports).
SUPPORTED_ARGS = (
    ("encoder_normalize_before", False),
    ("decoder_normalize_before", False),
    ("encoder_learned_pos", False),
    ("decoder_learned_pos", False),
    ("no_token_positional_embeddings", False),
    ("vocab_original_scaling", False),
    ("activation_fn", "relu"),
    ("adaptive_softmax_cutoff", None),
)

_CROSS_ATTENTION = re.compile(r"^(decoder\.layers\.\d+\.encoder_attn\.)(in_proj_weight|in_proj_bias)$")
_OUR_CROSS_ATTENTION = re.compile(r"^(decoder\.layers\.\d+\.encoder_attn\.)(q|kv)_proj_(weight|bias)$")
_HAT_FFN = re.compile(r"^((?:en|de)coder\.layers\.\d+\.)(fc[12]\.(?:weight|bias))$")


def bookkeeping_keys(side: str) -> tuple[str, str]:
    """The two weightless buffers HAT's encoder/decoder save (see the module docstring)."""
    return f"{side}.version", f"{side}.embed_positions._float_tensor"


# -------------------------------------------------------------------------------------------
# Reading a file


def read_hat_file(path: str | os.PathLike) -> tuple[dict[str, Any], argparse.Namespace | None]:
    """(state dict, args or None) of a HAT checkpoint; loads no code (module docstring)."""
    import pickle

    import torch

    if not Path(path).is_file():
        raise HatError(f"{path}: HAT checkpoint not found")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            contents = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise HatError(f"{path}: refused to load: {_refusal(str(err))}") from None
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        raise HatError(f"{path}: not a loadable checkpoint ({_first_line(str(err))})") from None
    if isinstance(contents, dict) and isinstance(contents.get("model"), dict):
        state, args = contents["model"], contents.get("args")
    else:
        state, args = contents, None
    if not isinstance(state, dict) or not state or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise HatError(f"{path}: neither a fairseq checkpoint ({{'args', 'model', ...}}) nor a state dict")
    if args is not None and not isinstance(args, argparse.Namespace):
        raise HatError(f"{path}: 'args' is a {type(args).__name__}, expected fairseq's argparse.Namespace")
    return state, args


def _refusal(message: str) -> str:
    """torch's multi-line weights-only error -> the refused global, on one line."""
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", message) or re.search(r"GLOBAL ([\w.]+)", message)
    if found:
        return f"it pickles {found.group(1)}, and only tensors, builtins and argparse.Namespace are admitted"
    return _first_line(message)


def _first_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[0] if lines else "unreadable"


def is_hat_file(path: str | os.PathLike) -> bool:
    """True for a fairseq/HAT checkpoint, False for this project's own (weights_only-loadable with
    a 'hat' entry). Reads the file once; errors surface later, from the loader that fits."""
    from hat.io import load_checkpoint

    try:
        checkpoint = load_checkpoint(path)
    except HatError:
        return True  # torch's plain weights-only load refuses Namespace: a fairseq file (or garbage)
    return not (isinstance(checkpoint, dict) and "hat" in checkpoint)


# -------------------------------------------------------------------------------------------
# Name and shape mapping


def to_hat_state(model: SuperTransformer) -> dict[str, Any]:
    """Our supernet's state dict in HAT's names, shapes and order (tensors are copies)."""
    import torch

    out: dict[str, Any] = {}
    state = model.state_dict()
    for key, tensor in state.items():
        side = key.split(".", 1)[0]
        version_key, positions_key = bookkeeping_keys(side)
        cross = _OUR_CROSS_ATTENTION.match(key)
        if key == f"{side}.embed_tokens.weight":
            out[version_key] = torch.tensor([3.0])
            out[key] = tensor.clone()
            out[positions_key] = torch.zeros(1)
        elif cross and cross.group(2) == "kv":
            prefix, kind = cross.group(1), cross.group(3)
            out[f"{prefix}in_proj_{kind}"] = torch.cat([state[f"{prefix}q_proj_{kind}"], tensor])
        elif cross is None:
            out[key.replace(".ffn.", ".")] = tensor.clone()
    return out


def from_hat_state(hat_state: dict[str, Any], qkv_dim: int) -> dict[str, Any]:
    """HAT's state dict -> ours (bookkeeping buffers dropped, fused cross-attention split)."""
    bookkeeping = {key for side in SIDES for key in bookkeeping_keys(side)}
    out: dict[str, Any] = {}
    for key, tensor in hat_state.items():
        if key in bookkeeping:
            continue
        cross = _CROSS_ATTENTION.match(key)
        ffn = _HAT_FFN.match(key)
        if cross:
            kind = cross.group(2).rsplit("_", 1)[1]
            out[f"{cross.group(1)}q_proj_{kind}"] = tensor[:qkv_dim].clone()
            out[f"{cross.group(1)}kv_proj_{kind}"] = tensor[qkv_dim:].clone()
        elif ffn:
            out[f"{ffn.group(1)}ffn.{ffn.group(2)}"] = tensor
        else:
            out[key] = tensor
    return out


def check_hat_state(hat_state: dict[str, Any], expected: dict[str, Any], source: str) -> None:
    """Every key of `expected` (HAT's layout for the task's space) present at its shape, nothing else;
    the bookkeeping buffers may be missing (older fairseq files)."""
    optional = {key for side in SIDES for key in bookkeeping_keys(side)}
    for key, tensor in expected.items():
        if key not in hat_state:
            if key in optional:
                continue
            raise HatError(f"{source}: no tensor '{key}' (expected in HAT's layout of this space)")
        if tuple(hat_state[key].shape) != tuple(tensor.shape):
            raise HatError(
                f"{source}: '{key}' has shape {list(hat_state[key].shape)}, "
                f"the task's space expects {list(tensor.shape)}"
            )
    unexpected = sorted(set(hat_state) - set(expected))
    if unexpected:
        raise HatError(f"{source}: unexpected tensor '{unexpected[0]}' (not in HAT's layout of this space)")


# -------------------------------------------------------------------------------------------
# HAT files -> our models


def vocab_sizes(hat_state: dict[str, Any], source: str) -> tuple[int, int]:
    try:
        return tuple(int(hat_state[f"{side}.embed_tokens.weight"].shape[0]) for side in SIDES)  # type: ignore[return-value]
    except KeyError as err:
        raise HatError(f"{source}: no tensor '{err.args[0]}' (is it a HAT Transformer checkpoint?)") from None


def check_args(args: argparse.Namespace | None, space: DesignSpace, source: str) -> None:
    """The file's super-shape arguments equal the task's space; no option our model lacks is on."""
    if args is None:
        return  # a bare state dict: its shapes are checked instead
    for name in SUPER_ARGS:
        if hasattr(args, name) and getattr(args, name) != getattr(space, name):
            raise HatError(
                f"{source}: args.{name} is {getattr(args, name)!r}, "
                f"task space '{space.name}' has {getattr(space, name)!r}"
            )
    for name, supported in SUPPORTED_ARGS:
        if getattr(args, name, supported) != supported:
            raise HatError(f"{source}: args.{name} = {getattr(args, name)!r} is not supported (only {supported!r})")


def supernet_from_hat(
    path: str | os.PathLike, space: DesignSpace, training_defaults: dict[str, Any]
) -> SuperTransformer:
    """Our SuperTransformer holding a HAT file's weights (checked against `space` first)."""
    source = str(path)
    hat_state, args = read_hat_file(path)
    check_args(args, space, source)
    src_vocab, tgt_vocab = vocab_sizes(hat_state, source)

    def option(name: str, default: float) -> float:
        return float(getattr(args, name, training_defaults.get(name.replace("_", "-"), default)))

    model = SuperTransformer(
        space,
        src_vocab,
        tgt_vocab,
        padding_idx=PADDING_IDX,
        dropout=option("dropout", 0.1),
        attention_dropout=option("attention_dropout", 0.0),
    )
    check_hat_state(hat_state, to_hat_state(model), source)
    model.load_state_dict(from_hat_state(hat_state, space.qkv_dim))
    return model.eval()


def check_dictionaries(
    model: SuperTransformer, data_dir: str | os.PathLike, source_lang: str, target_lang: str
) -> None:
    """The data's fairseq dictionaries have exactly the checkpoint's vocabulary sizes: HAT's
    checkpoints need HAT's preprocessed data (its dictionaries, in its order)."""
    for lang, size in zip((source_lang, target_lang), model.vocab_sizes):
        dictionary = Path(data_dir) / f"dict.{lang}.txt"
        if not dictionary.is_file():
            raise HatError(f"{dictionary}: dictionary not found")
        entries = SPECIAL_SYMBOLS + sum(1 for line in dictionary.read_text(encoding="utf-8").splitlines() if line)
        if entries != size:
            raise HatError(
                f"{dictionary}: {entries} entries, the checkpoint's vocabulary has {size}; "
                "HAT's checkpoints need HAT's preprocessed data (configs/<task>/get_preprocessed.sh)"
            )


# -------------------------------------------------------------------------------------------
# Our models -> HAT files


def hat_args(
    model: SuperTransformer, space: DesignSpace, arch: str, config: SubConfig | None = None
) -> argparse.Namespace:
    """The Namespace HAT's train.py would have saved: the space's YAML keys (dashes as
    underscores), the model options, and a SubTransformer's `*_subtransformer` keys."""
    values: dict[str, Any] = {key.replace("-", "_"): value for key, value in space.to_hat_dict().items()}
    values.update(dict(SUPPORTED_ARGS))
    values.update(
        arch=arch,
        dropout=model.dropout,
        attention_dropout=model.attention_dropout,
        share_decoder_input_output_embed=space.share_all_embeddings,
        max_source_positions=model.max_positions(),
        max_target_positions=model.max_positions(),
    )
    if config is not None:
        values["train_subtransformer"] = True
        values.update({key.replace("-", "_"): value for key, value in config.to_hat_dict().items()})
    return argparse.Namespace(**values)


def save_hat_checkpoint(
    model: SuperTransformer,
    space: DesignSpace,
    path: str | os.PathLike,
    arch: str = "transformersuper",
    config: SubConfig | None = None,
) -> None:
    """Write `model` (a supernet) as HAT's train.py saves it: fairseq 0.8's dict, HAT's names."""
    import torch

    from hat.io import atomic_path

    if space.encoder_embed_dim != space.decoder_embed_dim:
        raise HatError(
            f"space '{space.name}': HAT's layout fuses encoder-decoder attention into one matrix, which needs "
            f"encoder-embed-dim == decoder-embed-dim (here {space.encoder_embed_dim} / {space.decoder_embed_dim})"
        )
    checkpoint = {
        "args": hat_args(model, space, arch, config),
        "model": to_hat_state(model),
        "optimizer_history": [],
        "extra_state": {},
    }
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


# -------------------------------------------------------------------------------------------
# `hat import hat-checkpoint`


def import_hat_checkpoint(
    path: str | os.PathLike,
    task: Any,
    out: str | os.PathLike,
    config_path: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
) -> SuperTransformer:
    """A HAT file -> this project's checkpoint at `out`: the supernet (with the task's design
    space), or with `config_path` the dense SubTransformer of that YAML. Records provenance
    (source file, its sha256, format) under "imported_from". Returns the written model."""
    from hat.export import export_subtransformer, save_model
    from hat.io import sha256_file
    from hat.space import read_subconfig

    supernet = supernet_from_hat(path, task.space, task.training_defaults)
    if data_dir is not None:
        check_dictionaries(supernet, data_dir, task.source_lang, task.target_lang)
    provenance = {"format": FILE_FORMAT, "source": str(Path(path).resolve()), "sha256": sha256_file(path)}
    if config_path is None:
        save_model(supernet, out, space=task.space, task=task.name, extra={"imported_from": provenance})
        return supernet
    config = read_subconfig(config_path)
    task.space.validate(config, source=str(config_path))
    dense = export_subtransformer(supernet, config).eval()
    provenance["config"] = str(Path(config_path).resolve())
    save_model(dense, out, task=task.name, extra={"imported_from": provenance})
    return dense
