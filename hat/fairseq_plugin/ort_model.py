"""fairseq's encoder/decoder interfaces around ONNX Runtime sessions (hat.runtime.ort_model).

`OrtTransformerModel` lets fairseq's SequenceGenerator (the beam search `hat evaluate` runs, with
the task's beam and length penalty) decode through the exported graphs instead of the PyTorch
modules: the encoder graph runs once per batch, the decoder-step graph once per step, and the
beam reorders the numpy caches exactly where fairseq reorders the PyTorch model's. Search code,
scores and tie-breaking are fairseq's in both runtimes, so hypotheses can only differ where the
runtime's floating-point results move a beam decision (hat.runtime.ort_decode counts them).
"""

from typing import Any

import torch
from fairseq.models import FairseqEncoder, FairseqEncoderDecoderModel, FairseqIncrementalDecoder
from torch import Tensor

from hat.fairseq_plugin.model import MAX_POSITIONS
from hat.runtime.ort_model import OrtSubTransformer

CACHE_KEY = "ort_self_attention_cache"


def _numpy(tensors: dict[str, Tensor]) -> dict[str, Any]:
    return {name: tensor.numpy() for name, tensor in tensors.items()}


def _torch(arrays: dict[str, Any]) -> dict[str, Tensor]:
    return {name: torch.from_numpy(array) for name, array in arrays.items()}


def _reorder(tensors: dict[str, Tensor], new_order: Tensor) -> dict[str, Tensor]:
    return {name: tensor.index_select(0, new_order) for name, tensor in tensors.items()}


class OrtEncoder(FairseqEncoder):
    def __init__(self, dictionary, session: OrtSubTransformer):
        super().__init__(dictionary)
        self.session = session

    def forward(self, src_tokens: Tensor, src_lengths: Tensor | None = None, **unused) -> dict[str, Tensor]:
        return _torch(self.session.encode(src_tokens.cpu().numpy()))

    def reorder_encoder_out(self, encoder_out: dict[str, Tensor], new_order: Tensor) -> dict[str, Tensor]:
        return _reorder(encoder_out, new_order)

    def max_positions(self) -> int:
        return MAX_POSITIONS


class OrtDecoder(FairseqIncrementalDecoder):
    def __init__(self, dictionary, session: OrtSubTransformer):
        super().__init__(dictionary)
        self.session = session

    def forward(self, prev_output_tokens: Tensor, encoder_out=None, incremental_state=None, **unused):
        """Only the newest token is run; the cache lives in fairseq's incremental_state."""
        if incremental_state is None:
            raise ValueError("the ONNX decoder-step graph decodes incrementally only")
        batch = prev_output_tokens.size(0)
        cache = incremental_state.get(CACHE_KEY)
        cache = self.session.empty_cache(batch) if cache is None else _numpy(cache)
        tokens = prev_output_tokens[:, -1:].cpu().numpy()
        logits, grown = self.session.step(tokens, _numpy(encoder_out), cache)
        incremental_state[CACHE_KEY] = _torch(grown)
        return torch.from_numpy(logits)[:, None, :], {"attn": None}

    def reorder_incremental_state(self, incremental_state: dict, new_order: Tensor) -> None:
        if CACHE_KEY in incremental_state:
            incremental_state[CACHE_KEY] = _reorder(incremental_state[CACHE_KEY], new_order)

    def reorder_incremental_state_scripting(self, incremental_state: dict, new_order: Tensor) -> None:
        self.reorder_incremental_state(incremental_state, new_order)

    def max_positions(self) -> int:
        return MAX_POSITIONS


class OrtTransformerModel(FairseqEncoderDecoderModel):
    """fairseq's view of an ONNX export (no parameters: the weights live in the graphs)."""

    def __init__(self, session: OrtSubTransformer, src_dict, tgt_dict):
        super().__init__(OrtEncoder(src_dict, session), OrtDecoder(tgt_dict, session))

    def max_positions(self):
        return (MAX_POSITIONS, MAX_POSITIONS)
