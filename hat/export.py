"""SubTransformer -> standalone dense model, and the project's model checkpoint format.

`export_subtransformer` allocates a `SuperTransformer` at exactly one SubTransformer's shape
(`Allocation.for_config`) and copies the leading block of every super tensor into it. The result
holds only that SubTransformer's weights (HAT users who deployed a sliced supernet counted 55 M
parameters for a 31 M model), computes the same outputs, and needs no supernet to run.

Checkpoint layout (plain containers and tensors only, so `torch.load(weights_only=True)` reads it):

    {"hat": {"format_version": 1,
             "hyperparameters": SuperTransformer.hyperparameters(),
             "config": SubConfig.to_hat_dict() or None,       # the selected SubTransformer
             "space": DesignSpace.to_hat_dict() or None,      # supernets: their design space
             "space_name": str or None, "task": str or None},
     "model": state_dict}                                     # the core module's own key names

Other keys (fairseq's optimizer state, training progress) may sit beside these and are ignored.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from hat.errors import HatError
from hat.io import load_checkpoint, save_checkpoint
from hat.space import DesignSpace, SubConfig
from hat.supernet import Allocation, SuperTransformer

FORMAT_VERSION = 1


def export_subtransformer(supernet: SuperTransformer, config: SubConfig) -> SuperTransformer:
    """A dense model holding only `config`'s slice of `supernet`'s weights, with `config` selected."""
    supernet.set_sample_config(config)
    dense = SuperTransformer(
        Allocation.for_config(config, supernet.allocation),
        *supernet.vocab_sizes,
        padding_idx=supernet.padding_idx,
        dropout=supernet.dropout,
        attention_dropout=supernet.attention_dropout,
    )
    super_state = supernet.state_dict()
    with torch.no_grad():
        for name, tensor in dense.state_dict().items():
            leading_block = tuple(slice(0, size) for size in tensor.shape)
            tensor.copy_(super_state[name][leading_block])
    dense.set_sample_config(config)
    return dense.train(supernet.training)


def checkpoint_metadata(model: SuperTransformer, space: DesignSpace | None = None, task: str | None = None) -> dict:
    """The plain-data "hat" entry of a checkpoint for `model` (see the module docstring)."""
    return {
        "format_version": FORMAT_VERSION,
        "hyperparameters": model.hyperparameters(),
        "config": model.config.to_hat_dict() if model.config is not None else None,
        "space": space.to_hat_dict() if space is not None else None,
        "space_name": space.name if space is not None else None,
        "task": task,
    }


def save_model(
    model: SuperTransformer,
    path: str | os.PathLike,
    space: DesignSpace | None = None,
    task: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically; `extra` holds further plain entries (e.g. training progress)."""
    save_checkpoint(
        {"hat": checkpoint_metadata(model, space, task), "model": model.state_dict(), **(extra or {})}, path
    )


def _read(path: str | os.PathLike) -> tuple[dict, dict]:
    checkpoint = load_checkpoint(path)
    meta = checkpoint.get("hat") if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict) or "hyperparameters" not in meta or "model" not in checkpoint:
        raise HatError(f"{path}: not a HAT model checkpoint (no 'hat' metadata)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise HatError(f"{path}: checkpoint format {meta.get('format_version')} (this hat reads {FORMAT_VERSION})")
    return checkpoint, meta


def load_model(path: str | os.PathLike) -> SuperTransformer:
    """Rebuild the model of a checkpoint, with its stored SubTransformer selected (if any)."""
    checkpoint, meta = _read(path)
    model = SuperTransformer.from_hyperparameters(meta["hyperparameters"])
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as err:
        raise HatError(f"{path}: weights do not match the stored shape ({str(err).splitlines()[0]})") from None
    config = _stored_config(meta, path)
    if config is not None:
        model.set_sample_config(config)
    return model.eval()


def _stored_config(meta: dict, path: str | os.PathLike) -> SubConfig | None:
    return None if meta.get("config") is None else SubConfig.from_hat_dict(meta["config"], source=f"{path}:config")


def stored_config(path: str | os.PathLike) -> SubConfig | None:
    """The SubTransformer a model checkpoint has selected (an exported one: its own); None for a supernet."""
    _, meta = _read(path)
    return _stored_config(meta, path)


def stored_space(path: str | os.PathLike) -> DesignSpace | None:
    """The design space a supernet checkpoint was trained on; None for an exported SubTransformer."""
    _, meta = _read(path)
    if meta.get("space") is None:
        return None
    return DesignSpace.from_hat_dict(meta["space"], name=meta.get("space_name") or "space", source=str(path))


def load_supernet(path: str | os.PathLike) -> tuple[SuperTransformer, DesignSpace]:
    """A supernet checkpoint's model and the design space it was trained on."""
    space = stored_space(path)
    if space is None:
        raise HatError(f"{path}: checkpoint has no design space (is it an exported SubTransformer?)")
    return load_model(path), space


def count_model_parameters(model: SuperTransformer, include_embeddings: bool = False) -> int:
    """Parameters a model holds; without embeddings this is HAT's #Params of a dense export."""
    excluded = set()
    if not include_embeddings:
        excluded = {id(model.encoder.embed_tokens.weight), id(model.decoder.embed_tokens.weight)}
        if model.decoder.embed_out is not None:
            excluded.add(id(model.decoder.embed_out))
    return sum(p.numel() for p in model.parameters() if id(p) not in excluded)
