"""Deployment runtimes and precisions (issue #15): a SubTransformer as ONNX graphs, run by
ONNX Runtime in fp32 or dynamically quantized int8, or by eager PyTorch in fp32 or int8.

A *runtime* (`torch`, `onnxruntime`) and a *precision* (`fp32`, `int8`) together say how a model
ships; hardware entries in the workflow config name both, so the latency dataset, the predictor,
the search, the exported model and its BLEU all refer to the same deployment (docs/runtime.md).

onnx/onnxruntime are an optional extra (`pip install hat-nas[onnx]`); nothing here imports them
before a function that needs them runs.
"""

from __future__ import annotations

from pathlib import Path

from hat.errors import HatError

RUNTIMES = ("torch", "onnxruntime")
PRECISIONS = ("fp32", "int8")
DEFAULT_RUNTIME, DEFAULT_PRECISION = "torch", "fp32"


def check_runtime(runtime: str, precision: str) -> None:
    """Both names must be known (every combination is supported)."""
    if runtime not in RUNTIMES:
        raise HatError(f"unknown runtime '{runtime}' (choose from: {', '.join(RUNTIMES)})")
    if precision not in PRECISIONS:
        raise HatError(f"unknown precision '{precision}' (choose from: {', '.join(PRECISIONS)})")


def require_onnxruntime():
    """The onnxruntime module, or a one-line HatError saying how to install the extra."""
    try:
        import onnxruntime
    except ImportError:
        raise HatError("runtime onnxruntime needs the optional extra: pip install 'hat-nas[onnx]'") from None
    return onnxruntime


def recorded_runtime(csv_path) -> dict[str, str]:
    """The runtime and precision a latency CSV was measured in, from its `.env.json` sidecar
    (`hat latency dataset` records them); CSVs without one (HAT's) are eager PyTorch fp32."""
    import json

    from hat.latency.dataset import sidecar_path

    sidecar = sidecar_path(Path(csv_path))
    recorded = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    return {
        "runtime": recorded.get("runtime", DEFAULT_RUNTIME),
        "precision": recorded.get("precision", DEFAULT_PRECISION),
    }


def check_predictor_runtime(predictor, runtime: str, precision: str, source) -> None:
    """A predictor predicts the runtime and precision its training data was measured in, no other."""
    data = predictor.meta.get("training_data", {})
    found = (data.get("runtime", DEFAULT_RUNTIME), data.get("precision", DEFAULT_PRECISION))
    if found != (runtime, precision):
        raise HatError(
            f"{source}: predictor was trained on latencies measured in {found[0]} {found[1]}, "
            f"the search is for {runtime} {precision}"
        )
