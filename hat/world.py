"""The workers of a training and the settings that keep HAT's effective batch on them.

HAT's YAMLs give update-freq for a world size (`distributed-world-size`, 1 when absent; the WMT
YAMLs say 8: 16 x 8 = 128 micro-batches per update, the README's "update-freq 128/x on x GPUs").
`scaled_settings` keeps that number of micro-batches per update on any world size unless
`update-freq` is overridden. Pure settings arithmetic (no torch, no fairseq), so the workflow can
show the update-freq a job will use; `hat.fairseq_plugin.distributed` launches the workers.

Work outside fairseq (claiming the save dir, repairing a torn checkpoint, writing the initial and
final SubTransformer) is done once, by the process that launches rank 0 (`launches_rank_zero`);
the other SLURM/torchrun tasks wait for it in fairseq's rendezvous, which completes only when
every rank has joined.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

from hat.errors import HatError

WORLD_SIZE_KEY = "distributed-world-size"
UPDATE_FREQ_KEY = "update-freq"
# HAT's multi-GPU backend: a sampled SubTransformer leaves parameters without gradients, which
# torch's c10d DDP refuses unless told to search for them every step.
MULTI_WORKER_DDP_BACKEND = "no_c10d"


@dataclass(frozen=True)
class World:
    """The workers of one training: `gpus` per node (with --device cpu: processes), on `nodes` nodes."""

    gpus: int = 1
    nodes: int = 1

    @property
    def size(self) -> int:
        return self.gpus * self.nodes

    def check(self, cpu: bool) -> None:
        for flag, value in (("--gpus", self.gpus), ("--nodes", self.nodes)):
            if value < 1:
                raise HatError(f"{flag} must be >= 1, got {value}")
        if cpu and self.nodes > 1:
            raise HatError(
                f"--nodes {self.nodes} with --device cpu: CPU workers run on one machine (--gpus N processes)"
            )
        if self.nodes > 1 and not _under_launcher():
            raise HatError(
                f"--nodes {self.nodes}: start one task per GPU with SLURM's srun (the workflow's slurm profile) "
                "or torchrun; a plain process reaches only its own node"
            )


def scaled_settings(settings: dict[str, Any], overrides: dict[str, Any], world: World) -> dict[str, Any]:
    """`settings` for `world`: update-freq keeps the YAML's micro-batches per update (module
    docstring) unless overridden; the world size and, with several workers, HAT's DDP backend."""
    if WORLD_SIZE_KEY in overrides:
        raise HatError(f"--override {WORLD_SIZE_KEY}: give the workers with --gpus N (and --nodes M)")
    reference_world = int(settings.get(WORLD_SIZE_KEY, 1))
    scaled = {**settings, WORLD_SIZE_KEY: world.size}
    if UPDATE_FREQ_KEY not in overrides:
        micro_batches = int(settings.get(UPDATE_FREQ_KEY, 1)) * reference_world
        if micro_batches % world.size:
            raise HatError(
                f"{world.size} workers cannot share the {micro_batches} micro-batches per update of the task "
                f"(update-freq {settings.get(UPDATE_FREQ_KEY, 1)} x {reference_world} workers); use a world size "
                f"dividing {micro_batches} or --override update-freq=N"
            )
        scaled[UPDATE_FREQ_KEY] = micro_batches // world.size
    if world.size > 1:
        scaled.setdefault("ddp-backend", MULTI_WORKER_DDP_BACKEND)
        # Every rank reads checkpoint_last.pt itself: fairseq's broadcast of rank 0's copy
        # unpickles its own placeholder class, which torch.load(weights_only=True) refuses.
        scaled["load-checkpoint-on-all-dp-ranks"] = True
    if world.nodes > 1 and "distributed-port" not in scaled:
        scaled["distributed-port"] = rendezvous_port()
    return scaled


def rendezvous_port() -> int:
    """The port every task of this SLURM job agrees on (fairseq's own rule for one node)."""
    job = os.environ.get("SLURM_JOB_ID", "0") + os.environ.get("SLURM_ARRAY_TASK_ID", "")
    return random.Random(int(job)).randint(10000, 60000)


def _under_launcher() -> bool:
    return "SLURM_JOB_ID" in os.environ or "RANK" in os.environ


def launches_rank_zero() -> bool:
    """False only in the SLURM/torchrun tasks that run ranks other than 0."""
    return os.environ.get("RANK", "0") == "0" and os.environ.get("SLURM_PROCID", "0") == "0"
