"""Deployment runtimes side by side: HAT's latency protocol (hat.latency.measure, one thread) on
eager PyTorch fp32, ONNX Runtime fp32 and ONNX Runtime int8, for the smallest, a sampled and the
largest SubTransformer of a task's space, plus size on disk.

Run: .venv/bin/python bench/bench_runtime.py [--task wmt14ende] [--runs 10]
Prints per config the eager latency (ms) and the ratios ORT fp32 / eager and ORT int8 / eager, and
the ONNX export sizes over the eager checkpoint's; all measured in this run, one after the other
on the same process with one thread (docs/runtime.md).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import torch

from hat.export import export_subtransformer, save_model
from hat.latency.measure import LatencyMeter
from hat.runtime.onnx_export import size_on_disk
from hat.runtime.quantize import export_onnx_at
from hat.tasks import load_task

RUNTIMES = (("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"))


def sizes(meter: LatencyMeter, config, tmp: Path) -> dict[str, int]:
    dense = export_subtransformer(meter.model, config).eval()
    save_model(dense, tmp / "model.pt")
    found = {"torch": (tmp / "model.pt").stat().st_size}
    for precision in ("fp32", "int8"):
        export_onnx_at(dense, tmp / precision, precision)
        found[precision] = size_on_disk(tmp / precision)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="wmt14ende")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    task = load_task(args.task)
    space = task.latency_space
    configs = {"smallest": space.smallest(-1), "sampled": space.sample(random.Random(0)), "largest": space.largest(-1)}
    meters = {
        key: LatencyMeter(task, runs=args.runs, warmup=args.warmup, threads=1, runtime=key[0], precision=key[1])
        for key in RUNTIMES
    }
    for meter in meters.values():  # one latency supernet: every runtime times the same weights
        meter.model = meters[RUNTIMES[0]].model
    print(f"task {task.name}, vocabulary {meters[RUNTIMES[0]].vocab_size}, torch threads {torch.get_num_threads()}")
    print(f"{'config':9} {'eager ms':>9} {'ORT fp32/eager':>15} {'ORT int8/eager':>15} "
          f"{'size fp32/pt':>13} {'size int8/pt':>13}")  # fmt: skip
    for name, config in configs.items():
        total = {key: meter.measure(config).total_ms for key, meter in meters.items()}
        with tempfile.TemporaryDirectory() as tmp:
            size = sizes(meters[RUNTIMES[0]], config, Path(tmp))
        eager = total[RUNTIMES[0]]
        print(
            f"{name:9} {eager:9.1f} {total[RUNTIMES[1]] / eager:15.2f} {total[RUNTIMES[2]] / eager:15.2f} "
            f"{size['fp32'] / size['torch']:13.2f} {size['int8'] / size['torch']:13.2f}"
        )


if __name__ == "__main__":
    main()
