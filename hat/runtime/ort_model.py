"""An exported SubTransformer run by ONNX Runtime: encode once, then one decoder step per token.

`OrtSubTransformer(onnx_dir)` opens the two graphs that `hat.runtime.onnx_export` wrote (fp32 or
int8, `hat.runtime.quantize`) on the CPU execution provider. Arrays are numpy: token ids int64,
the rest float32. Beam search over these steps is `hat.runtime.ort_decode`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hat.runtime import require_onnxruntime
from hat.runtime.onnx_export import cache_names, cross_names, read_metadata

Arrays = dict[str, np.ndarray]


class OrtSubTransformer:
    def __init__(self, onnx_dir: str | os.PathLike, threads: int | None = None):
        ort = require_onnxruntime()
        onnx_dir = Path(onnx_dir)
        self.metadata = read_metadata(onnx_dir)
        self.precision = self.metadata["precision"]
        self.layers = self.metadata["decoder_layers"]
        self.qkv_dim = self.metadata["qkv_dim"]
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        if threads is not None:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        self.encoder = ort.InferenceSession(str(onnx_dir / self.metadata["encoder"]), options, providers=providers)
        self.decoder = ort.InferenceSession(str(onnx_dir / self.metadata["decoder_step"]), options, providers=providers)
        self.encoded_names = ["src_padding_mask", *cross_names(self.layers)]
        self.cache_names = cache_names(self.layers)

    def encode(self, src_tokens: np.ndarray) -> Arrays:
        """[B, S] int64 -> src_padding_mask and every decoder layer's cross-attention K/V."""
        return dict(zip(self.encoded_names, self.encoder.run(None, {"src_tokens": src_tokens})))

    def empty_cache(self, batch: int) -> Arrays:
        """The self-attention cache before the first step: [batch, 0, qkv] per layer and K/V."""
        return {name: np.zeros((batch, 0, self.qkv_dim), dtype=np.float32) for name in self.cache_names}

    def step(self, tokens: np.ndarray, encoded: Arrays, cache: Arrays) -> tuple[np.ndarray, Arrays]:
        """tokens [B, 1] int64 (the newest) -> (logits [B, V], the cache grown by this step)."""
        logits, *grown = self.decoder.run(None, {"tokens": tokens, **encoded, **cache})
        return logits, dict(zip(self.cache_names, grown))


def reorder(arrays: Arrays, order: np.ndarray) -> Arrays:
    """Select/expand batch rows (beam search) of every array."""
    return {name: np.ascontiguousarray(array[order]) for name, array in arrays.items()}
