"""int8 dynamic quantization of a SubTransformer's linear layers, per runtime (issue #15 req. 3).

* onnxruntime: `onnxruntime.quantization.quantize_dynamic` on both graphs, MatMul/Gemm nodes with
  constant weights (every linear layer, including the output projection; attention's
  activation-by-activation products stay fp32) and the embedding/position-table lookups (Gather on
  a constant: without them the fp32 token table, held by both graphs, outweighs everything else
  for WMT vocabularies): weights int8 per tensor, activations quantized on the fly (uint8).
* torch: `torch.ao` dynamic quantization of the `nn.Linear` layers (FFN fc1/fc2 and attention
  output projections); the fused Q/K/V in-projections and the output projection are raw
  parameters used through `F.linear`, which torch.ao does not rewrite, and stay fp32.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from torch import Tensor, nn

from hat.runtime import require_onnxruntime
from hat.runtime.onnx_export import read_metadata, write_metadata
from hat.supernet import ElasticLinear, SuperTransformer

QUANTIZED_OPS = ["MatMul", "Gemm", "Gather"]


def quantize_onnx(fp32_dir: str | os.PathLike, int8_dir: str | os.PathLike) -> Path:
    """An int8 copy of an fp32 ONNX export; returns the new model.json."""
    require_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32_dir, int8_dir = Path(fp32_dir), Path(int8_dir)
    metadata = read_metadata(fp32_dir)
    if metadata["precision"] != "fp32":
        raise ValueError(f"{fp32_dir}: already {metadata['precision']}")
    int8_dir.mkdir(parents=True, exist_ok=True)
    (int8_dir / "model.json").unlink(missing_ok=True)
    for key in ("encoder", "decoder_step"):
        quantize_dynamic(
            fp32_dir / metadata[key], int8_dir / metadata[key], op_types_to_quantize=QUANTIZED_OPS,
            weight_type=QuantType.QInt8,
        )  # fmt: skip
    return write_metadata(int8_dir, {**metadata, "precision": "int8"})


def export_onnx_at(model: SuperTransformer, out_dir: str | os.PathLike, precision: str, extra: dict | None = None):
    """`hat.runtime.onnx_export.export_onnx` followed by quantization when `precision` is int8."""
    from hat.runtime.onnx_export import export_onnx

    out_dir = Path(out_dir)
    if precision == "fp32":
        return export_onnx(model, out_dir, extra)
    fp32_dir = out_dir.with_name(out_dir.name + ".fp32-tmp")
    try:
        export_onnx(model, fp32_dir, extra)
        return quantize_onnx(fp32_dir, out_dir)
    finally:
        shutil.rmtree(fp32_dir, ignore_errors=True)


class Int8Linear(nn.Module):
    """A dense model's ElasticLinear as a torch.ao dynamically quantized Linear (same call signature)."""

    def __init__(self, linear: ElasticLinear):
        super().__init__()
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
        from torch.ao.quantization import default_dynamic_qconfig

        plain = nn.Linear(linear.in_features, linear.out_features)
        plain.load_state_dict(linear.state_dict())
        plain.qconfig = default_dynamic_qconfig
        self.quantized = DynamicLinear.from_float(plain)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: Tensor, in_dim: int, out_dim: int) -> Tensor:
        if (in_dim, out_dim) != (self.in_features, self.out_features):
            raise ValueError("an int8 layer runs at its exported shape only (quantize an exported SubTransformer)")
        return self.quantized(x)


def quantize_torch(model: SuperTransformer) -> SuperTransformer:
    """Replace every ElasticLinear of an exported dense model with Int8Linear, in place (eval mode)."""
    model.eval()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, ElasticLinear):
                setattr(parent, name, Int8Linear(child))
    return model


def torch_size_on_disk(model: nn.Module) -> int:
    """Bytes of the model's serialized state dict (packed int8 weights where quantized)."""
    import io

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()
