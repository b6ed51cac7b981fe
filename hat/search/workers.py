"""A generation's fitness computed on N worker processes (`hat search --workers N`).

Each worker builds its scorer once (`make_scorer(rank)`: for the search, the supernet and the
validation batches on its own device) and then scores the configs it is sent. `WorkerPool`
is a batch fitness function for `hat.search.evolution.evolve`: it splits a batch into N
contiguous slices, one per worker, and returns the losses in the batch's order. A config's loss
depends only on the config, so the search sees the same numbers as a serial one (with the same
torch threads per scorer) and ends with the same result; its resume state is unchanged.

Workers are started with `spawn` (a fresh interpreter: no forked torch thread pools) and get
`make_scorer` pickled, so it must be a module-level callable (e.g. a `functools.partial`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Sequence

from hat.errors import HatError
from hat.space import SubConfig

Scorer = Callable[[list[SubConfig]], Sequence[float]]


def _serve(connection, make_scorer: Callable[[int], Scorer], rank: int) -> None:
    """Worker loop: build the scorer, then answer each list of configs with their losses."""
    try:
        scorer = make_scorer(rank)
        connection.send(("ready", None))
    except Exception as err:  # reported to the parent as a HatError
        connection.send(("error", f"{type(err).__name__}: {err}"))
        return
    while (configs := connection.recv()) is not None:
        try:
            connection.send(("losses", [float(loss) for loss in scorer(configs)]))
        except Exception as err:
            connection.send(("error", f"{type(err).__name__}: {err}"))


def split(items: Sequence, parts: int) -> list[list]:
    """`items` in `parts` contiguous slices whose sizes differ by at most one (first ones larger)."""
    size, extra = divmod(len(items), parts)
    bounds = [0]
    for part in range(parts):
        bounds.append(bounds[-1] + size + (part < extra))
    return [list(items[start:end]) for start, end in zip(bounds, bounds[1:], strict=False)]


class WorkerPool:
    """`workers` processes, each holding one scorer; call it like a batch fitness function."""

    def __init__(self, make_scorer: Callable[[int], Scorer], workers: int) -> None:
        if workers < 1:
            raise HatError(f"--workers must be >= 1, got {workers}")
        context = multiprocessing.get_context("spawn")
        self.connections, self.processes = [], []
        for rank in range(workers):
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child, make_scorer, rank), daemon=True)
            process.start()
            child.close()
            self.connections.append(parent)
            self.processes.append(process)
        try:
            for rank in range(workers):
                self._receive(rank)  # each worker has loaded its scorer (or failed to)
        except HatError:
            self.close()
            raise

    def __call__(self, configs: list[SubConfig]) -> list[float]:
        slices = split(configs, len(self.connections))
        busy = [rank for rank, part in enumerate(slices) if part]
        for rank in busy:
            self.connections[rank].send(slices[rank])
        return [loss for rank in busy for loss in self._receive(rank)]

    def _receive(self, rank: int):
        try:
            kind, value = self.connections[rank].recv()
        except EOFError:
            raise HatError(f"search worker {rank} died (exit code {self.processes[rank].exitcode})") from None
        if kind == "error":
            raise HatError(f"search worker {rank}: {value}")
        return value

    def close(self) -> None:
        for connection, process in zip(self.connections, self.processes, strict=True):
            if process.is_alive():
                with contextlib.suppress(OSError):
                    connection.send(None)
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
            connection.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
