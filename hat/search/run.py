"""`hat search`: the evolutionary core wired to a supernet, a predictor file and a real measurement.

The fitness comes from the caller (`FitnessFactory`): `hat search` passes the inherited loss
(`hat.fairseq_plugin.fitness.InheritedLoss`), so this package needs torch only, never fairseq.

Order of work, so that a bad request fails in seconds and writes nothing:

1. settings checked, predictor loaded and matched against task/space/hardware (spec §4: HAT
   relied on users copying feature-norm/lat-norm by hand; a predictor file here describes itself);
2. a relative budget (`budget_pct`: 0 = fastest, 100 = slowest SubTransformer) resolved to ms on
   the predicted range, then the budget checked against that range (`check_budget`);
3. only then the supernet and the validation data are loaded (once) and the search runs, saving
   its state after every generation next to the output (`SearchOutputs.state`);
4. closed loop (issue #6 req. 6): with `measure_latency` = cpu/cuda the found SubTransformer is
   timed here with HAT's protocol (spec §3), and a measurement more than 10 % over budget is a warning;
5. the outputs (`hat.search.report`) are written at the very end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hat.errors import HatError
from hat.io import require_writable_dir, sha256_file
from hat.search.evolution import (
    LatencyRange,
    SearchResult,
    SearchSettings,
    check_budget,
    evolve,
    predicted_range,
    relative_budget,
)
from hat.search.report import SearchOutputs, write_outputs
from hat.search.workers import Scorer
from hat.space import SubConfig
from hat.tasks import Task

OVER_BUDGET_WARNING = 0.10  # measured latency this far over budget is flagged (issue #6 req. 6)


@dataclass(frozen=True)
class SearchRequest:
    task: Task
    supernet: Path
    data: Path
    predictor: Path
    budget_ms: float | None  # None: resolved from budget_pct
    outputs: SearchOutputs
    settings: SearchSettings
    budget_pct: float | None = None  # budget relative to the predicted range (0 fastest, 100 slowest)
    hardware: str | None = None  # default: the predictor's hardware
    valid_max_batches: int | None = None  # None: HAT's full valid split
    measure_latency: str | None = None  # closed loop: time the result on this device here ("cpu", "cuda")
    measure_threads: int | None = None  # torch CPU threads for the measurement (None: torch's default)
    device: str = "cpu"  # where the supernet scores candidates
    threads: int | None = None  # torch CPU threads of each scorer (None: torch's default)
    workers: int = 1  # processes scoring each generation (cuda: one GPU each, cuda:0..N-1)
    runtime: str = "torch"  # what the model ships in (hat.runtime): the predictor must be for it
    precision: str = "fp32"
    confidence: float | None = None  # search under the predictor's upper bound at this confidence


class FitnessFactory(Protocol):
    """Builds a scorer once (supernet and data loaded on `device`, first `max_batches` batches;
    None: all); the scorer maps a batch of configs to their losses, lower is better."""

    def __call__(
        self, task: Task, supernet: Path, data: Path, /, *, device: str, max_batches: int | None
    ) -> Scorer: ...


def latency_function(predictor: Any, confidence: float | None, path: Path):
    """What the search holds under the budget: the prediction, or its upper bound at `confidence`
    (`hat.predictor.interval`: the budget is then met with that probability)."""
    if confidence is None:
        return predictor.predict_ms
    factor = predictor.upper_factor(confidence)
    if factor == float("inf"):
        raise HatError(f"{path}: too few calibration rows for --confidence {confidence:g}")
    return lambda configs: predictor.predict_ms(configs) * factor


def check_predictor_matches(predictor: Any, request: SearchRequest) -> str:
    """The predictor file must be for this task, space and hardware; returns the hardware name."""
    expected = {
        "task": request.task.name,
        "space": request.task.space.name,
        "hardware": request.hardware or predictor.hardware,
    }
    found = {"task": predictor.task, "space": predictor.space_name, "hardware": predictor.hardware}
    for key, value in expected.items():
        if found[key] != value:
            raise HatError(f"{request.predictor}: predictor is for {key} '{found[key]}', the search is for '{value}'")
    return found["hardware"]


def check_vocabulary_matches(predictor: Any, request: SearchRequest) -> None:
    """A predictor fitted on latencies of another output vocabulary times other models: refuse it."""
    from hat.latency.measure import data_vocab_size

    measured_with = predictor.meta["training_data"].get("vocab_size")  # None: HAT's CSVs, unknown
    if measured_with is not None and measured_with != data_vocab_size(request.data, request.task):
        raise HatError(
            f"{request.predictor}: its latencies were measured with vocabulary size {measured_with}, but the "
            f"dictionary in {request.data} has {data_vocab_size(request.data, request.task)} entries "
            "(re-record the latency dataset with --data of this task)"
        )


def resolve_budget(request: SearchRequest, predictor: Any) -> SearchRequest:
    """The request with budget_ms set: as given, or budget_pct of the predicted range."""
    if request.budget_pct is None:
        return request
    achievable = predicted_range(request.task.space, predictor.predict_ms)
    return dataclasses.replace(request, budget_ms=relative_budget(achievable, request.budget_pct))


def run_search(request: SearchRequest, make_fitness: FitnessFactory, progress: bool = True) -> dict[str, Any]:
    """Run one search end to end, scoring candidates with `make_fitness`'s scorers; returns the
    sidecar dict that was written."""
    from hat.predictor import load_predictor
    from hat.runtime import check_predictor_runtime

    request.settings.check()
    if request.budget_pct is None and (not math.isfinite(request.budget_ms) or request.budget_ms <= 0):
        raise HatError(f"--latency-budget must be a positive number of ms, got {request.budget_ms:g}")
    for flag, count in (
        ("--threads", request.threads),
        ("--measure-threads", request.measure_threads),
        ("--workers", request.workers),
    ):
        if count is not None and count < 1:
            raise HatError(f"{flag} must be >= 1, got {count}")
    for directory in dict.fromkeys(path.parent for path in request.outputs.files):
        require_writable_dir(directory)
    predictor = load_predictor(request.predictor)
    hardware = check_predictor_matches(predictor, request)
    check_predictor_runtime(predictor, request.runtime, request.precision, request.predictor)
    check_vocabulary_matches(predictor, request)
    request = resolve_budget(request, predictor)
    latency_ms = latency_function(predictor, request.confidence, request.predictor)
    space = request.task.space
    achievable = check_budget(space, latency_ms, request.budget_ms)

    identity = {
        "supernet_sha256": sha256_file(request.supernet),
        "predictor_sha256": sha256_file(request.predictor),
        "data": str(request.data.resolve()),
        "valid_max_batches": request.valid_max_batches,
    }
    outputs = request.outputs
    started = time.perf_counter()
    with _ProgressBar(request.settings.iterations, enabled=progress) as bar, _fitness(request, make_fitness) as fitness:
        result = evolve(
            space,
            fitness,
            latency_ms,
            request.budget_ms,
            request.settings,
            state_path=outputs.state,
            inputs=identity,
            on_generation=bar.update,
        )
    measured = measure_result(result.best, request) if request.measure_latency else None
    sidecar = build_sidecar(request, result, predictor, hardware, achievable, identity, measured)
    sidecar["seconds"] = time.perf_counter() - started
    write_outputs(outputs, result, request.budget_ms, sidecar)
    print(summary(sidecar, outputs), file=sys.stderr)
    return sidecar


@contextlib.contextmanager
def _fitness(request: SearchRequest, make_fitness: FitnessFactory):
    """The batch fitness: in this process, or on `request.workers` processes (hat.search.workers)."""
    if request.workers == 1:
        yield _scorer(request, make_fitness)
        return
    from hat.search.workers import WorkerPool

    with WorkerPool(functools.partial(_scorer, request, make_fitness), request.workers) as pool:
        yield pool


def _scorer(request: SearchRequest, make_fitness: FitnessFactory, rank: int = 0) -> Scorer:
    """`make_fitness`'s scorer for worker `rank`, on GPU `rank` when the device is cuda (spec §5:
    supernet and data loaded once per scorer)."""
    import torch

    if request.threads is not None:
        torch.set_num_threads(request.threads)  # small models score fastest on one thread per process
    device = f"cuda:{rank}" if request.device == "cuda" and request.workers > 1 else request.device
    return make_fitness(
        request.task, request.supernet, request.data, device=device, max_batches=request.valid_max_batches
    )


def measure_result(config: SubConfig, request: SearchRequest) -> dict[str, Any]:
    """Time `config` here with HAT's protocol (spec §3, `hat.latency.measure.LatencyMeter`)."""
    from hat.latency.measure import LatencyMeter, data_vocab_size

    meter = LatencyMeter(
        request.task,
        device=request.measure_latency,
        threads=request.measure_threads,
        vocab_size=data_vocab_size(request.data, request.task),
        runtime=request.runtime,
        precision=request.precision,
    )
    measurement = meter.measure(config)
    return {
        "device": request.measure_latency,
        "latency_ms": measurement.total_ms,
        **measurement.to_dict(),
        "protocol": meter.protocol(),
    }


def build_sidecar(
    request: SearchRequest,
    result: SearchResult,
    predictor: Any,
    hardware: str,
    achievable: LatencyRange,
    identity: dict[str, Any],
    measured: dict[str, Any] | None,
) -> dict[str, Any]:
    """The JSON next to the YAML: what was found, how, and how far to trust its latency."""
    from hat.profile import task_counts

    task, best = request.task, result.best
    sidecar: dict[str, Any] = {
        "task": task.name,
        "space": task.space.name,
        "hardware": hardware,
        "runtime": request.runtime,
        "precision": request.precision,
        "latency_budget_ms": request.budget_ms,
        "latency_budget_pct": request.budget_pct,
        **_latency_bounds(request, result, predictor),
        "achievable_predicted_ms": [achievable.fastest_ms, achievable.slowest_ms],
        "fitness": result.best_fitness,
        "fitness_definition": "inherited loss (label-smoothed CE, base 2, per target token, supernet's weights)",
        **task_counts(best, task),
        "settings": request.settings.to_dict(),
        "seed": request.settings.seed,
        "evaluations": result.evaluations,
        "generations": len(result.log),
        "resumed_generations": result.resumed_generations,
        "predictor": {
            "path": str(request.predictor),
            "sha256": identity["predictor_sha256"],
            "kind": predictor.kind,
            "task": predictor.task,
            "space": predictor.space_name,
            "hardware": predictor.hardware,
            "vocab_size": predictor.meta["training_data"].get("vocab_size"),
            "metrics": predictor.metrics,
        },
        "supernet": {"path": str(request.supernet), "sha256": identity["supernet_sha256"]},
        "data": str(request.data),
        "valid_max_batches": request.valid_max_batches,
        "workers": request.workers,
        "measured": None,
        "warning": None,
    }
    if measured is not None:
        measured_ms, predicted_ms = measured["latency_ms"], sidecar["predicted_latency_ms"]
        sidecar["measured"] = {
            **measured,
            "predicted_ms": predicted_ms,
            "error_pct": 100 * (predicted_ms - measured_ms) / measured_ms,
            "over_budget_pct": 100 * (measured_ms - request.budget_ms) / request.budget_ms,
        }
        if measured_ms > (1 + OVER_BUDGET_WARNING) * request.budget_ms:
            sidecar["warning"] = (
                f"measured {measured_ms:.4g} ms on {measured['device']} is "
                f"{sidecar['measured']['over_budget_pct']:.0f} % over the {request.budget_ms:g} ms budget "
                f"(predicted {predicted_ms:.4g} ms)"
            )
    return sidecar


def _latency_bounds(request: SearchRequest, result: SearchResult, predictor: Any) -> dict[str, Any]:
    """The best config's prediction, its upper bound at the requested confidence (the figure the
    search held under the budget) and the estimated probability that it meets the budget."""
    predicted_ms = float(predictor.predict_ms([result.best])[0])
    return {
        "predicted_latency_ms": predicted_ms,
        "confidence": request.confidence,
        "upper_bound_ms": None if request.confidence is None else result.best_predicted_ms,
        "budget_probability": predictor.budget_probability(predicted_ms, request.budget_ms),
    }


def summary(sidecar: dict[str, Any], outputs: SearchOutputs) -> str:
    """The few lines printed at the end of `hat search`."""
    lines = [
        f"best: inherited loss {sidecar['fitness']:.4f}, predicted {sidecar['predicted_latency_ms']:.4g} ms "
        f"on {sidecar['hardware']} (budget {budget_text(sidecar)}), "
        f"{sidecar['params'] / 1e6:.2f} M params, {sidecar['flops'] / 1e9:.3f} GFLOPs",
        f"search: {sidecar['generations']} generations, {sidecar['evaluations']} distinct SubTransformers scored "
        f"in {sidecar['seconds']:.1f} s (resumed after {sidecar['resumed_generations']})",
    ]
    if sidecar["upper_bound_ms"] is not None:
        lines.append(
            f"upper bound at confidence {sidecar['confidence']:g}: {sidecar['upper_bound_ms']:.4g} ms "
            f"(estimated probability of meeting the budget: {sidecar['budget_probability']:.2f})"
        )
    if sidecar["measured"] is not None:
        measured = sidecar["measured"]
        lines.append(
            f"measured on {measured['device']}: {measured['latency_ms']:.4g} ms "
            f"(the prediction is {measured['error_pct']:+.1f} % off)"
        )
    if sidecar["warning"]:
        lines.append(f"hat: warning: {sidecar['warning']}")
    lines.append(f"wrote {outputs.yaml} (+ {outputs.sidecar.name}, {outputs.log_csv.name}, {outputs.plot.name})")
    return "\n".join(lines)


def budget_text(sidecar: dict[str, Any]) -> str:
    """'27 ms', or '50 % of 12.6-45.6 ms = 29.1 ms' for a relative budget."""
    if sidecar.get("latency_budget_pct") is None:
        return f"{sidecar['latency_budget_ms']:g} ms"
    fastest, slowest = sidecar["achievable_predicted_ms"]
    return (
        f"{sidecar['latency_budget_pct']:g} % of {fastest:.4g}-{slowest:.4g} ms = {sidecar['latency_budget_ms']:.4g} ms"
    )


class _ProgressBar:
    """tqdm over generations, showing the current best loss and its predicted latency."""

    def __init__(self, total: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="gen", desc="search", disable=not enabled, file=sys.stderr)

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc_info) -> None:
        self.bar.close()

    def update(self, row) -> None:
        self.bar.n = row.generation
        self.bar.set_postfix(best=f"{row.best_fitness:.4f}", ms=f"{row.best_predicted_ms:.4g}", evals=row.evaluations)
