"""Launching a training's workers through fairseq's own distributed machinery (docs/distributed.md).

One node: fairseq spawns one worker per GPU (`distributed_utils.call_main`). Several nodes:
SLURM starts one task per GPU (`srun`, the workflow's multi-node jobs) and fairseq reads the
SLURM environment (`_infer_slurm_init`: rank = SLURM_PROCID, rendezvous on the first node at
`--distributed-port`); torchrun works too (`env://`). On CPU fairseq spawns nothing (its spawn
counts CUDA devices), so `launch` starts the workers itself, each entering fairseq's `call_main`
with its rank, a `tcp://127.0.0.1` rendezvous and the gloo backend: the stand-in for GPUs that
the tests use. How many workers and with which update-freq: `hat.world`.
"""

from __future__ import annotations

import os
import re
import socket

from hat.errors import HatError


def launch(cfg, main, cpu: bool, threads: int | None) -> None:
    """Run `main(cfg)` on every worker of cfg's world (module docstring)."""
    import torch
    from fairseq.distributed import utils as distributed_utils

    training = cfg.distributed_training
    if not (cpu and training.distributed_world_size > 1):
        _check_gpus(training.distributed_world_size, cpu)
        distributed_utils.call_main(cfg, main)
        return
    training.distributed_init_method = f"tcp://127.0.0.1:{_free_port()}"
    training.distributed_no_spawn = True
    training.distributed_backend = "gloo"
    try:
        torch.multiprocessing.spawn(
            _cpu_worker, args=(cfg, main, threads), nprocs=training.distributed_world_size, join=True
        )
    except torch.multiprocessing.ProcessRaisedException as err:
        raise HatError(f"a training worker failed: {_exception_line(str(err))}") from None


def _exception_line(traceback: str) -> str:
    """'Type: message' of the last exception in a worker's traceback text, on one line."""
    lines = traceback.strip().splitlines()
    start = max((i for i, line in enumerate(lines) if re.match(r"^[\w.]+(Error|Exception|Exit)\b", line)), default=-1)
    return " ".join(line.strip() for line in lines[start:]) if start >= 0 else lines[-1]


def _check_gpus(world_size: int, cpu: bool) -> None:
    """One node's workers are its GPUs: refuse more than it has (fairseq would assert)."""
    import torch

    one_task = "RANK" not in os.environ and os.environ.get("SLURM_NTASKS", "1") == "1"
    if not cpu and one_task and world_size > max(1, torch.cuda.device_count()):
        raise HatError(
            f"--gpus {world_size}: this node has {torch.cuda.device_count()} GPU(s) (--device cpu for CPU workers)"
        )


def _cpu_worker(rank: int, cfg, main, threads: int | None) -> None:
    import torch
    from fairseq.distributed import utils as distributed_utils

    if threads:
        torch.set_num_threads(threads)
    cfg.distributed_training.distributed_rank = rank
    distributed_utils.call_main(cfg, main)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
