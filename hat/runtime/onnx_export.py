"""A dense SubTransformer as two ONNX graphs that an ONNX Runtime user can run (issue #15 req. 1).

`export_onnx(model, out_dir)` writes, for the model's selected SubTransformer (hat.export):

* `encoder.onnx`: src_tokens [batch, src_len] int64 ->
  src_padding_mask [batch, src_len] bool (True at pads), and per decoder layer i the static
  cross-attention keys/values cross_k.i, cross_v.i [batch, memory_len_i, qkv], computed once per
  sentence from the 1-3 encoder layers that layer attends to (memory_len_i = n_i * src_len,
  HAT's arbitrary encoder-decoder attention);
* `decoder_step.onnx`: one incremental decoder step. Inputs: tokens [batch, 1] int64 (the newest
  token), src_padding_mask, cross_k.i, cross_v.i, and the self-attention cache self_k.i, self_v.i
  [batch, past_len, qkv] (past_len = 0 at the first step). Outputs: logits [batch, V] of the next
  token and the grown cache new_self_k.i, new_self_v.i [batch, past_len + 1, qkv]. The position
  of the new token is past_len + 1, read from the cache's shape;
* `model.json` (written last: its presence says the export is complete): the SubTransformer, the
  vocabulary sizes, the padding index, the precision and the graphs' input/output names.

batch (sentences x beam), src_len and past_len are dynamic axes. The graphs are traced from the
same modules as the PyTorch model (hat.supernet), with the attention masks always applied (the
eager model skips an all-attend mask; the result is the same). With tied embeddings the decoder
graph holds the table once, as the output projection's [d, V] constant that token lookups also read.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hat.errors import HatError
from hat.io import write_text_atomic
from hat.space import SubConfig, encoder_layers_attended
from hat.supernet import SuperTransformer

FORMAT, VERSION = "hat-onnx", 1
ENCODER_FILE, DECODER_FILE, METADATA_FILE = "encoder.onnx", "decoder_step.onnx", "model.json"
OPSET = 17


def cross_names(layers: int) -> list[str]:
    return [f"cross_{kv}.{i}" for i in range(layers) for kv in ("k", "v")]


def cache_names(layers: int, prefix: str = "") -> list[str]:
    return [f"{prefix}self_{kv}.{i}" for i in range(layers) for kv in ("k", "v")]


class EncoderGraph(nn.Module):
    """src_tokens -> (src_padding_mask, cross_k.0, cross_v.0, ...): the encoder plus every decoder
    layer's static cross-attention projection."""

    def __init__(self, model: SuperTransformer):
        super().__init__()
        self.model = model
        self.config: SubConfig = model.config

    def forward(self, src_tokens: Tensor) -> tuple[Tensor, ...]:
        c, encoder, decoder = self.config, self.model.encoder, self.model.decoder
        dim, pad = c.encoder_embed_dim, encoder.padding_idx
        padding_mask = src_tokens.eq(pad)  # [B, S]
        not_pad = (~padding_mask).long()
        positions = torch.cumsum(not_pad, dim=1) * not_pad + pad  # as SinusoidalPositions
        x = encoder.embed_tokens(src_tokens, dim) * math.sqrt(dim) + encoder.embed_positions.table[positions, :dim]
        mask = ~padding_mask[:, None, None, :]
        states = []
        for i in range(c.encoder_layer_num):
            x = encoder.layers[i](x, mask, dim, c.encoder_ffn_embed_dim[i], c.encoder_self_attention_heads[i])
            states.append(x)
        outputs = [padding_mask]
        for i in range(c.decoder_layer_num):
            memory = torch.cat(states[::-1][: encoder_layers_attended(c.decoder_arbitrary_ende_attn[i])], dim=1)
            outputs += decoder.layers[i].encoder_attn.project_memory(memory, dim)
        return tuple(outputs)


class DecoderStepGraph(nn.Module):
    """(tokens, src_padding_mask, cross K/V..., self K/V cache...) -> (logits, grown cache...)."""

    def __init__(self, model: SuperTransformer):
        super().__init__()
        self.model = model
        self.config: SubConfig = model.config

    def forward(self, tokens: Tensor, src_padding_mask: Tensor, *tensors: Tensor) -> tuple[Tensor, ...]:
        c, decoder = self.config, self.model.decoder
        layers = c.decoder_layer_num
        cross, caches = tensors[: 2 * layers], tensors[2 * layers :]
        dim, pad = c.decoder_embed_dim, decoder.padding_idx
        position = torch.full_like(tokens, pad + 1) + caches[0].shape[1]  # [B, 1]: past_len + 1 + pad
        output_t = decoder.output_weight(dim).t()  # [dim, V]
        if decoder.embed_out is None:  # tied: look tokens up in the same (folded) [dim, V] constant
            embedded = output_t[:, tokens[:, 0]].t()[:, None, :]
        else:
            embedded = decoder.embed_tokens(tokens, dim)
        x = embedded * math.sqrt(dim) + decoder.embed_positions.table[position, :dim]
        grown = []
        for i in range(layers):
            attended = encoder_layers_attended(c.decoder_arbitrary_ende_attn[i])
            memory_mask = (~src_padding_mask).repeat(1, attended)[:, None, None, :]
            cache = {
                "self": {"k": caches[2 * i], "v": caches[2 * i + 1]},
                "cross": {"k": cross[2 * i], "v": cross[2 * i + 1]},
            }
            x = decoder.layers[i](
                x, None, memory_mask, None, dim, c.encoder_embed_dim, c.decoder_ffn_embed_dim[i],
                c.decoder_self_attention_heads[i], c.decoder_ende_attention_heads[i], cache,
            )  # fmt: skip
            grown += [cache["self"]["k"], cache["self"]["v"]]
        return (x[:, 0] @ output_t, *grown)


def example_inputs(model: SuperTransformer, batch: int = 2, src_len: int = 5, past_len: int = 3):
    """Tracing inputs: (src_tokens,) and the decoder step's inputs, with one padded source row."""
    c, pad = model.config, model.padding_idx
    src_tokens = torch.full((batch, src_len), pad + 3, dtype=torch.long)
    src_tokens[0, :1] = pad
    with torch.no_grad():
        encoded = EncoderGraph(model).eval()(src_tokens)
    qkv = model.allocation.qkv_dim
    caches = [torch.zeros(batch, past_len, qkv) for _ in range(2 * c.decoder_layer_num)]
    tokens = torch.full((batch, 1), pad + 3, dtype=torch.long)
    return (src_tokens,), (tokens, *encoded, *caches)


def export_onnx(model: SuperTransformer, out_dir: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write the encoder and decoder-step graphs of `model` (an exported dense SubTransformer, its
    config selected) and model.json into `out_dir`; returns the metadata file's path."""
    if model.config is None:
        raise HatError("export_onnx: the model has no SubTransformer selected")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / METADATA_FILE).unlink(missing_ok=True)
    model = model.eval()
    layers = model.config.decoder_layer_num
    encoder_inputs, decoder_inputs = example_inputs(model)
    memory_axes = {name: {0: "batch", 1: f"memory_len_{name.split('.')[1]}"} for name in cross_names(layers)}
    cache_axes = {name: {0: "batch", 1: "past_len"} for name in cache_names(layers)}
    grown_axes = {name: {0: "batch", 1: "past_len_plus_1"} for name in cache_names(layers, "new_")}
    mask_axes = {"src_padding_mask": {0: "batch", 1: "src_len"}}
    _export(
        EncoderGraph(model).eval(), encoder_inputs, out_dir / ENCODER_FILE,
        ["src_tokens"], ["src_padding_mask", *cross_names(layers)],
        {"src_tokens": {0: "batch", 1: "src_len"}, **mask_axes, **memory_axes},
    )  # fmt: skip
    _export(
        DecoderStepGraph(model).eval(), decoder_inputs, out_dir / DECODER_FILE,
        ["tokens", "src_padding_mask", *cross_names(layers), *cache_names(layers)],
        ["logits", *cache_names(layers, "new_")],
        {"tokens": {0: "batch"}, "logits": {0: "batch"}, **mask_axes, **memory_axes, **cache_axes, **grown_axes},
    )  # fmt: skip
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "precision": "fp32",
        "config": model.config.to_hat_dict(),
        "padding_idx": model.padding_idx,
        "src_vocab_size": model.vocab_sizes[0],
        "tgt_vocab_size": model.vocab_sizes[1],
        "qkv_dim": model.allocation.qkv_dim,
        "decoder_layers": layers,
        "encoder": ENCODER_FILE,
        "decoder_step": DECODER_FILE,
        **(extra or {}),
    }
    return write_metadata(out_dir, metadata)


def write_metadata(out_dir: Path, metadata: dict[str, Any]) -> Path:
    path = out_dir / METADATA_FILE
    write_text_atomic(path, json.dumps(metadata, indent=1) + "\n")
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """model.json of an ONNX export (`path` is the file or its directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / METADATA_FILE
    if not path.is_file():
        raise HatError(f"{path}: file not found (is this an ONNX export from `hat export --format onnx`?)")
    metadata = json.loads(path.read_text())
    if metadata.get("format") != FORMAT or metadata.get("version") != VERSION:
        raise HatError(f"{path}: not a {FORMAT} v{VERSION} model description")
    return metadata


def size_on_disk(out_dir: str | os.PathLike) -> int:
    """Bytes of the graphs and their metadata (what a deployment copies)."""
    metadata_path = Path(out_dir) / METADATA_FILE
    metadata = read_metadata(metadata_path)
    files = [metadata["encoder"], metadata["decoder_step"]]
    return metadata_path.stat().st_size + sum((Path(out_dir) / name).stat().st_size for name in files)


def _export(module: nn.Module, inputs: tuple, path: Path, input_names, output_names, dynamic_axes) -> None:
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shape-derived values, deprecation notices
        torch.onnx.export(
            module,
            inputs,
            str(path),
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            dynamo=False,
        )
