"""Task definitions: `hat/configs/<task>/task.yml` (or a user's task.yml anywhere).

A task ties together its language pair, its SuperTransformer design space (HAT's
`supertransformer/*.yml`, which also carries the training defaults), the wider space sampled for
latency datasets, the latency/FLOPs sentence length and the decoding settings. The data
pipeline reads the `data:` section.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from hat.errors import HatError
from hat.space import DesignSpace, load_space, read_hat_yaml

CONFIG_ROOT = Path(__file__).parent / "configs"
BUILTIN_TASKS = ("wmt14ende", "wmt14enfr", "wmt19ende", "iwslt14deen", "demo")


@dataclass(frozen=True)
class Task:
    name: str
    source_lang: str
    target_lang: str
    supertransformer_path: Path
    latency_space_path: Path
    sentence_length: int
    beam: int
    lenpen: float
    data: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    # HAT's BLEU checkpoint (spec §6.3): 1 = checkpoint_best (WMT); N = the average of the last N
    # epoch checkpoints (IWSLT: 10, HAT's average_checkpoint.sh).
    average_last: int = 1

    @cached_property
    def space(self) -> DesignSpace:
        return load_space(self.supertransformer_path, name=self.name)

    @cached_property
    def latency_space(self) -> DesignSpace:
        return load_space(self.latency_space_path, name=f"{self.name}-latency")

    @cached_property
    def training_defaults(self) -> dict[str, Any]:
        """HAT's training keys from the SuperTransformer YAML (optimizer, lr schedule, dropout...)."""
        return read_hat_yaml(self.supertransformer_path)


_REQUIRED = {
    "name": str,
    "source-lang": str,
    "target-lang": str,
    "supertransformer": str,
    "latency-space": str,
    "sentence-length": int,
    "beam": int,
    "lenpen": (int, float),
}


def load_task(name_or_path: str | os.PathLike) -> Task:
    """A built-in task by name (`wmt14ende`, ..., `demo`) or a task.yml path."""
    path = Path(name_or_path)
    if not path.suffix:
        if str(name_or_path) not in BUILTIN_TASKS:
            raise HatError(f"unknown task '{name_or_path}' (built-in: {', '.join(BUILTIN_TASKS)}; or a task.yml path)")
        path = CONFIG_ROOT / str(name_or_path) / "task.yml"
    values = read_hat_yaml(path)
    for key, kind in _REQUIRED.items():
        if key not in values:
            raise HatError(f"{path}: missing key '{key}'")
        if not isinstance(values[key], kind) or isinstance(values[key], bool):
            raise HatError(f"{path}: {key} has the wrong type ({values[key]!r})")
    data = values.get("data", {})
    if not isinstance(data, dict):
        raise HatError(f"{path}: data must be a mapping")
    average_last = values.get("average-last-checkpoints", 1)
    if not isinstance(average_last, int) or isinstance(average_last, bool) or average_last < 1:
        raise HatError(f"{path}: average-last-checkpoints must be a positive integer, got {average_last!r}")
    return Task(
        name=values["name"],
        source_lang=values["source-lang"],
        target_lang=values["target-lang"],
        supertransformer_path=path.parent / values["supertransformer"],
        latency_space_path=path.parent / values["latency-space"],
        sentence_length=values["sentence-length"],
        beam=values["beam"],
        lenpen=float(values["lenpen"]),
        data=data,
        path=path,
        average_last=average_last,
    )
