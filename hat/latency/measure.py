"""HAT's latency protocol (spec §3), done right.

Like HAT: batch 1, source `[2] + [7]*(L-1)` with L = task.sentence_length (30 WMT, 23 IWSLT), the
encoder timed once per run; the encoder output expanded to beam 5 rows outside the timed region;
each decoder run is a fresh incremental state and L decoder calls on the prefix `[7]*(L-1) + [2]`,
each including the full-vocabulary output projection; warm-up runs, then N timed runs, trimmed
10 %/10 % mean and std; encoder and decoder reported separately, total = mean enc + mean dec.

Unlike HAT: eval mode and `torch.inference_mode()` (HAT timed in train mode with autograd on),
CPU threads set and recorded, CUDA timed with events plus synchronization, optional fp16 on CUDA,
symmetric trimming (HAT dropped at least one sample at the top, so 2 runs kept only the faster),
and warm-up runs that are the same incremental decode as the timed ones.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hat.errors import HatError
from hat.space import SubConfig

LATENCY_BEAM = 5  # fairseq's --beam default, used by HAT for every task (spec §3.1)
EOS, DUMMY_TOKEN, PADDING_IDX = 2, 7, 1
TRIM_FRACTION = 0.1
DEVICES = ("cpu", "cuda")

FINAL_RUNS = 300  # HAT's train.py latiter default: the final model is timed longer than a dataset sample
FAIRSEQ_SPECIALS = 4  # <s>, <pad>, </s>, <unk>: in every fairseq dictionary, not in dict.txt
# Test-only: every timing is multiplied by this, so a test can play a machine 2x slower or faster.
TIMER_SCALE_ENV = "HAT_TIMER_SCALE"

Timer = Callable[[Callable[[], Any]], float]  # runs fn once, returns elapsed milliseconds


@dataclass(frozen=True)
class Measurement:
    """Trimmed statistics of one SubTransformer's timed runs, in milliseconds."""

    encoder_ms: float
    encoder_std_ms: float
    decoder_ms: float
    decoder_std_ms: float
    runs: int

    @property
    def total_ms(self) -> float:
        return self.encoder_ms + self.decoder_ms

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "total_ms": self.total_ms}


def trimmed_stats(samples_ms: Sequence[float], fraction: float = TRIM_FRACTION) -> tuple[float, float]:
    """(mean, population std) after dropping ⌊fraction·n⌋ samples at each end of the sorted list."""
    if not samples_ms:
        raise ValueError("no timing samples")
    ordered = sorted(samples_ms)
    cut = int(math.floor(fraction * len(ordered)))
    kept = ordered[cut : len(ordered) - cut]
    mean = sum(kept) / len(kept)
    return mean, math.sqrt(sum((x - mean) ** 2 for x in kept) / len(kept))


def robust_scale(values: Sequence[float] | np.ndarray) -> float:
    """Robust standard deviation: the median absolute deviation from the median / 0.6745 (the
    standard deviation under Gaussian noise, unmoved by a few outliers)."""
    values = np.asarray(values, dtype=float)
    return float(np.median(np.abs(values - np.median(values))) / 0.6745)


# --------------------------------------------------------------------------------------------
# Timers


def cpu_timer(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0 * timer_scale()


def timer_scale() -> float:
    """1, or HAT_TIMER_SCALE (test-only: simulates a slower or faster CPU in end-to-end tests)."""
    text = os.environ.get(TIMER_SCALE_ENV, "1")
    try:
        scale = float(text)
    except ValueError:
        scale = math.nan
    if not scale > 0:
        raise HatError(f"{TIMER_SCALE_ENV}={text}: must be a positive number (test-only timer scale)")
    return scale


def data_vocab_size(data_dir: str | os.PathLike, task) -> int:
    """Size of the task's target dictionary in a binarized data dir: what the output projection
    of every model trained on it has (fairseq's 4 specials + one entry per line of dict.TGT.txt)."""
    path = Path(data_dir) / f"dict.{task.target_lang}.txt"
    if not path.is_file():
        raise HatError(f"{path}: dictionary not found (is {data_dir} the task's binarized data dir?)")
    return FAIRSEQ_SPECIALS + sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def cuda_timer(fn: Callable[[], Any]) -> float:
    """CUDA events around `fn`, synchronized before reading (kernels run asynchronously)."""
    import torch

    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) * timer_scale()


# --------------------------------------------------------------------------------------------
# The protocol


def dummy_inputs(sentence_length: int, beam: int, device: str):
    """(src_tokens [1, L], src_lengths [1], prev_output_tokens [beam, L]) as in spec §3.1."""
    import torch

    L = sentence_length
    src_tokens = torch.tensor([[EOS] + [DUMMY_TOKEN] * (L - 1)], device=device)
    src_lengths = torch.tensor([L], device=device)
    prev_output_tokens = torch.tensor([[DUMMY_TOKEN] * (L - 1) + [EOS]], device=device).repeat(beam, 1)
    return src_tokens, src_lengths, prev_output_tokens


def measure_subtransformer(
    model,
    config: SubConfig,
    *,
    sentence_length: int,
    runs: int,
    warmup: int,
    timer: Timer = cpu_timer,
    beam: int = LATENCY_BEAM,
) -> Measurement:
    """Time `config` on `model` (a SuperTransformer already on its device and dtype)."""
    import torch

    if runs < 1 or warmup < 0:
        raise HatError(f"need runs >= 1 and warmup >= 0 (got runs={runs}, warmup={warmup})")
    device = next(model.parameters()).device
    src_tokens, src_lengths, prev_output_tokens = dummy_inputs(sentence_length, beam, device)
    model.eval()
    model.set_sample_config(config)
    with torch.inference_mode():

        def run_encoder():
            return model.encoder(src_tokens, src_lengths)

        beam_order = torch.zeros(beam, dtype=torch.long, device=device)
        encoder_out = model.encoder.reorder_encoder_out(run_encoder(), beam_order)  # [beam, L, e]

        def run_decoder():
            state: dict = {}
            for step in range(sentence_length):
                model.decoder(prev_output_tokens[:, : step + 1], encoder_out, incremental_state=state)

        encoder_times = _timed_runs(run_encoder, runs, warmup, timer)
        decoder_times = _timed_runs(run_decoder, runs, warmup, timer)
    encoder_mean, encoder_std = trimmed_stats(encoder_times)
    decoder_mean, decoder_std = trimmed_stats(decoder_times)
    return Measurement(encoder_mean, encoder_std, decoder_mean, decoder_std, runs)


def _timed_runs(fn: Callable[[], Any], runs: int, warmup: int, timer: Timer) -> list[float]:
    for _ in range(warmup):
        fn()
    return [timer(fn) for _ in range(runs)]


# --------------------------------------------------------------------------------------------
# A model on a device, ready to time any config of the task's latency space


@dataclass
class LatencyMeter:
    """A model on `device`, ready to run the protocol: `measure(config)`.

    Without `checkpoint` it is the task's latency-space SuperTransformer with a `vocab_size`-entry
    output projection (the task's real target dictionary: `data_vocab_size`), which times any
    config of the latency space; with `checkpoint` it is that trained model (`hat.export.load_model`,
    as a user loads it), which `measure_checkpoint` times at its own config and vocabulary."""

    task: Any
    device: str = "cpu"
    runs: int = 20
    warmup: int = 5
    threads: int | None = None
    fp16: bool = False
    vocab_size: int | None = None
    runtime: str = "torch"  # or "onnxruntime" (hat.runtime)
    precision: str = "fp32"  # or "int8": dynamic quantization of the linear layers
    checkpoint: Path | None = None

    def __post_init__(self) -> None:
        import torch

        from hat.runtime import check_runtime, require_onnxruntime

        check_runtime(self.runtime, self.precision)
        if (self.runtime, self.precision) != ("torch", "fp32") and (self.device != "cpu" or self.fp16):
            raise HatError(f"runtime {self.runtime} {self.precision} is timed on the CPU only (--device cpu)")
        if self.runtime == "onnxruntime":
            require_onnxruntime()
        if self.device not in DEVICES:
            raise HatError(f"unknown device '{self.device}' (choose from: {', '.join(DEVICES)})")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise HatError("device cuda requested, but torch sees no CUDA device")
        if self.fp16 and self.device != "cuda":
            raise HatError("--fp16 needs --device cuda (fp16 matmuls on CPU are not what deployments run)")
        if self.threads is not None:
            if self.threads < 1:
                raise HatError(f"--threads must be >= 1, got {self.threads}")
            torch.set_num_threads(self.threads)
        model = self._load_checkpoint() if self.checkpoint is not None else self._latency_supernet()
        self.model = model.to(self.device, torch.float16 if self.fp16 else torch.float32).eval()
        self.timer = cuda_timer if self.device == "cuda" else cpu_timer

    def _latency_supernet(self):
        from hat.supernet import SuperTransformer

        if self.vocab_size is None:
            raise HatError("vocabulary size unknown: give --data (the task's binarized data dir) or --vocab-size")
        if self.vocab_size < FAIRSEQ_SPECIALS + 1:
            raise HatError(f"--vocab-size must be >= {FAIRSEQ_SPECIALS + 1}, got {self.vocab_size}")
        return SuperTransformer(self.task.latency_space, self.vocab_size, self.vocab_size, padding_idx=PADDING_IDX)

    def _load_checkpoint(self):
        from hat.export import load_model

        model = load_model(self.checkpoint)
        if model.config is None:
            raise HatError(f"{self.checkpoint}: holds no SubTransformer config (a supernet checkpoint?)")
        self.vocab_size = model.vocab_sizes[1]
        return model

    def measure(self, config: SubConfig) -> Measurement:
        self.task.latency_space.validate(config, source="SubTransformer")
        return self._time(config)

    def measure_once(self, config: SubConfig) -> Measurement:
        """One timed run of `config`, no warm-up: the unit the drift guard interleaves with its
        reference's runs (`hat.latency.dataset`), which applies `runs` and `warmup` itself."""
        self.task.latency_space.validate(config, source="SubTransformer")
        return self._time(config, runs=1, warmup=0)

    def measure_checkpoint(self) -> Measurement:
        """The loaded checkpoint, timed at its own SubTransformer config."""
        if self.checkpoint is None:
            raise HatError("measure_checkpoint needs a meter built with checkpoint=")
        return self._time(self.model.config)

    def _time(self, config: SubConfig, runs: int | None = None, warmup: int | None = None) -> Measurement:
        from hat.runtime.timing import measure_in_runtime

        return measure_in_runtime(
            self.model,
            config,
            self.runtime,
            self.precision,
            sentence_length=self.task.sentence_length,
            runs=self.runs if runs is None else runs,
            warmup=self.warmup if warmup is None else warmup,
            timer=self.timer,
            threads=self.threads,
        )

    def protocol(self) -> dict[str, Any]:
        """What a reader needs to reproduce the numbers (goes into JSON output and sidecars)."""
        return {
            "task": self.task.name,
            "model": str(self.checkpoint) if self.checkpoint is not None else "latency-space SuperTransformer",
            "latency_space": self.task.latency_space.name,
            "sentence_length": self.task.sentence_length,
            "beam": LATENCY_BEAM,
            "runs": self.runs,
            "warmup": self.warmup,
            "trim_fraction": TRIM_FRACTION,
            "vocab_size": self.vocab_size,
            "mode": "eval + inference_mode",
            "timer": "cuda events + synchronize" if self.device == "cuda" else "time.perf_counter",
            "timer_scale": timer_scale(),
            "environment": environment(self.device, "float16" if self.fp16 else "float32"),
            **runtime_record(self.runtime, self.precision),
        }


def runtime_record(runtime: str, precision: str) -> dict[str, str]:
    """runtime, precision (and the onnxruntime version): what the predictor trained on this data is for."""
    record = {"runtime": runtime, "precision": precision}
    if runtime == "onnxruntime":
        import onnxruntime

        record["onnxruntime"] = onnxruntime.__version__
    return record


def environment(device: str, dtype: str) -> dict[str, Any]:
    """torch build, threads, CPU model, GPU name, dtype: what HAT's CSVs never recorded."""
    import torch

    info = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "threads": torch.get_num_threads(),
        "device": device,
        "dtype": dtype,
    }
    if device == "cuda":
        info["gpu_name"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
    return info


def cpu_model() -> str:
    """'model name' (x86) or 'Model'/'Hardware' (ARM boards) from /proc/cpuinfo, else platform's."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        fields = dict(
            (key.strip(), value.strip())
            for key, _, value in (line.partition(":") for line in cpuinfo.read_text().splitlines())
            if value
        )
        for key in ("model name", "Model", "Hardware"):
            if key in fields:
                return fields[key]
    return platform.processor() or platform.machine()
