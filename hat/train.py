"""SuperTransformer and SubTransformer training on fairseq's trainer (hat-spec §2, §6.1, §6.2).

Training settings are HAT's per-task keys from the task's SuperTransformer YAML
(`task.training_defaults`, fairseq option names without the dashes' prefix), then
`--override KEY=VALUE` pairs. SubTransformer runs take the same keys, with HAT's §6.1 change
(`warmup-updates` 4000) and any `subtransformer-KEY` entries of the YAML applied on top.

fairseq runs in `hat.fairseq_plugin.trainer` (this module builds its command line and manages
the save dir, and imports no fairseq itself). Checkpoints are fairseq's (`checkpoint_last.pt`,
`checkpoint_best.pt`, epoch files) with two changes that make them safe to read with
`weights_only=True` and usable without fairseq:
`model` holds the core SuperTransformer's own state dict, and a top-level `hat` entry holds
`hat.export.checkpoint_metadata` (everything else fairseq stores is plain containers and
tensors). A rerun of the same command resumes from `checkpoint_last.pt`; fairseq writes each
checkpoint through a temporary file and rename, but *copies* it to the other names, so a kill
during a copy can leave a torn `checkpoint_last.pt`: `repair_last_checkpoint` replaces a torn
file by the newest readable checkpoint before fairseq loads anything.

A SubTransformer's config has one carrier: the dense initial model `init_model.pt`, exported
from the (validated) YAML's config with its initial weights. fairseq's task trains the config
that model holds (`hat.fairseq_plugin.task`), the checkpoints and the final model keep it, and
run.json's `subtransformer` entry is read back from it.

A save dir belongs to one run: `run.json` records what the checkpoints are a training of (task,
space, data, and for a SubTransformer its config and initial weights). A rerun of the same run
resumes; a rerun after one of those changed (the search picked another SubTransformer, the
supernet was retrained, the data re-prepared) deletes the other run's checkpoints first, so
fairseq neither crashes on them nor silently continues a model that is not this one
(`claim_save_dir`). Optimisation settings are not part of a run: changing them (a longer
max-update, another update-freq after a preemption) and rerunning resumes, as fairseq does.

`world` (GPUs per node x nodes, `hat.world`) sets the workers; update-freq is derived from it
to keep the task's effective batch, and fairseq's launcher starts them
(`hat.fairseq_plugin.distributed`, docs/distributed.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hat.errors import HatError
from hat.io import atomic_path, load_checkpoint, require_writable_dir, sha256_file, write_text_atomic
from hat.tasks import Task
from hat.world import World, launches_rank_zero, scaled_settings

logger = logging.getLogger("hat.train")

# HAT's SubTransformer training differs from the supernet's only here (spec §6.1, common.yml).
SUBTRANSFORMER_CHANGES: dict[str, Any] = {"warmup-updates": 4000}
# YAML keys that describe the model, not the optimisation (the design space keys are added below).
_MODEL_KEYS = {"arch", "share-all-embeddings"}
_SUBTRANSFORMER_PREFIX = "subtransformer-"
# Entry of a final SubTransformer checkpoint naming the training checkpoints it holds (one: the
# best; several: their average), which `hat evaluate` reports on bleu.txt's `checkpoint:` line.
FINAL_ORIGIN = "trained_from"
_EPOCH_CHECKPOINT = re.compile(r"checkpoint(\d+)\.pt$")
_UPDATE_CHECKPOINT = re.compile(r"checkpoint_\d+_(\d+)\.pt$")


# --------------------------------------------------------------------------------------------
# Settings: HAT keys -> fairseq command line


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """`KEY=VALUE` strings (fairseq/HAT option names, leading dashes optional) -> dict."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lstrip("-")
        if not sep or not key:
            raise HatError(f"--override '{pair}': expected KEY=VALUE (e.g. max-update=600)")
        overrides[key] = value.strip()
    return overrides


def training_settings(task: Task, overrides: dict[str, Any], subtransformer: bool) -> dict[str, Any]:
    """The effective optimisation keys: task YAML, (SubTransformer changes), then overrides."""
    space_keys = set(task.space.to_hat_dict()) | _MODEL_KEYS
    defaults = task.training_defaults
    settings = {k: v for k, v in defaults.items() if k not in space_keys and not k.startswith(_SUBTRANSFORMER_PREFIX)}
    if subtransformer:
        settings.update(SUBTRANSFORMER_CHANGES)
        settings.update(
            {k[len(_SUBTRANSFORMER_PREFIX) :]: v for k, v in defaults.items() if k.startswith(_SUBTRANSFORMER_PREFIX)}
        )
    settings.update(overrides)
    return settings


def fairseq_options(settings: dict[str, Any]) -> list[str]:
    """HAT keys -> fairseq arguments. HAT's `cosine` schedule names its peak `max-lr` and its floor
    `lr`; fairseq 0.12 calls them `lr` and `min-lr` (spec §2)."""
    settings = dict(settings)
    if str(settings.get("lr-scheduler")) == "cosine" and "max-lr" in settings:
        settings["min-lr"] = settings.pop("lr")
        settings["lr"] = settings.pop("max-lr")
    argv = []
    for key, value in settings.items():
        flag = f"--{key}"
        if isinstance(value, bool) or str(value).lower() in ("true", "false"):
            if value is True or str(value).lower() == "true":
                argv.append(flag)
            continue
        argv += [flag, str(value)]
    return argv


def _base_argv(task: Task, data_dir: Path, save_dir: Path, cpu: bool) -> list[str]:
    from hat.fairseq_plugin.runtime import task_argv

    argv = task_argv(task, data_dir) + ["--arch", "hat_transformer", "--save-dir", str(save_dir)]
    return argv + (["--cpu"] if cpu else [])


# --------------------------------------------------------------------------------------------
# Resuming


def _readable(path: Path) -> bool:
    try:
        load_checkpoint(path)
    except HatError:
        return False
    return True


def repair_last_checkpoint(save_dir: Path) -> None:
    """Make checkpoint_last.pt readable (or absent) before fairseq resumes from it."""
    last = save_dir / "checkpoint_last.pt"
    if not last.exists() or _readable(last):
        return
    candidates = sorted(
        (p for p in save_dir.glob("checkpoint*.pt") if p != last), key=lambda p: p.stat().st_mtime, reverse=True
    )
    good = next((p for p in candidates if _readable(p)), None)
    logger.warning("%s is torn (killed mid-copy); resuming from %s", last, good or "scratch")
    if good is None:
        last.unlink()
        return
    with atomic_path(last) as tmp:
        shutil.copyfile(good, tmp)


# --------------------------------------------------------------------------------------------
# Which run a save dir's checkpoints belong to

RUN_FILE = "run.json"


def data_fingerprint(data_dir: Path) -> str:
    """sha256 over what training reads from a binarized dir: the dictionaries, and the names and
    sizes of the .bin/.idx files (hashing a WMT corpus's .bin files would cost seconds at every
    start). Other files (logs, notes) do not count, so adding one never restarts a training."""
    digest = hashlib.sha256()
    read = sorted(p for pattern in ("dict.*.txt", "*.bin", "*.idx") for p in data_dir.glob(pattern))
    for path in read:
        digest.update(f"{path.name}:{path.stat().st_size}\n".encode())
        if path.name.startswith("dict."):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def claim_save_dir(save_dir: Path, run: dict[str, Any]) -> None:
    """Keep only checkpoints of `run` in save_dir (module docstring), then record it in run.json.
    Checkpoints without a run.json (written before it existed) are kept: resuming them is the
    behaviour they were written under."""
    run = json.loads(json.dumps(run))  # tuples -> lists, as run.json will read back
    save_dir.mkdir(parents=True, exist_ok=True)
    run_file = save_dir / RUN_FILE
    previous = json.loads(run_file.read_text()) if run_file.is_file() else None
    checkpoints = sorted(save_dir.glob("checkpoint*.pt"))
    if previous is not None and previous != run and checkpoints:
        changed = sorted(key for key in run.keys() | previous.keys() if previous.get(key) != run.get(key))
        logger.warning(
            "%s: %d checkpoint(s) of another run (changed: %s); starting over",
            save_dir,
            len(checkpoints),
            ", ".join(changed),
        )
        for path in checkpoints:
            path.unlink()
    write_text_atomic(run_file, json.dumps(run, indent=1, sort_keys=True) + "\n")


# --------------------------------------------------------------------------------------------
# Public entry points


@dataclass(frozen=True)
class TrainResult:
    save_dir: Path
    num_updates: int
    best_loss: float | None
    checkpoint: Path


def _result(save_dir: Path, checkpoint: Path) -> TrainResult:
    state = load_checkpoint(save_dir / "checkpoint_last.pt")
    best = state.get("extra_state", {}).get("best")
    return TrainResult(save_dir, state["optimizer_history"][-1]["num_updates"], best, checkpoint)


def train_supernet(
    task: Task,
    data_dir: str | os.PathLike,
    save_dir: str | os.PathLike,
    overrides: dict[str, Any] | None = None,
    cpu: bool = False,
    threads: int | None = None,
    extra_args: list[str] | None = None,
    world: World | None = None,
) -> TrainResult:
    """Train (or resume) a SuperTransformer on `world`'s workers; writes checkpoint_best.pt /
    checkpoint_last.pt in save_dir."""
    from hat.fairseq_plugin.trainer import run_training

    save_dir = Path(save_dir)
    settings = _settings_for(world, task, overrides or {}, subtransformer=False, cpu=cpu)
    argv = _base_argv(task, Path(data_dir), save_dir, cpu) + fairseq_options(settings) + (extra_args or [])
    rank_zero = launches_rank_zero()
    with _nothing_left_if_failed_before_a_checkpoint(save_dir) if rank_zero else contextlib.nullcontext():
        if rank_zero:
            claim_save_dir(save_dir, _run_identity(task, Path(data_dir)))
            repair_last_checkpoint(save_dir)
        run_training(argv, threads, cpu)
    return _result(save_dir, save_dir / "checkpoint_best.pt")


def _settings_for(world: World | None, task: Task, overrides: dict, subtransformer: bool, cpu: bool) -> dict[str, Any]:
    """training_settings with update-freq and world size for `world` (default: one worker),
    keeping the task's effective batch (hat.world)."""
    world = world or World()
    world.check(cpu)
    return scaled_settings(training_settings(task, overrides, subtransformer), overrides, world)


def train_subtransformer(
    task: Task,
    config_path: str | os.PathLike,
    data_dir: str | os.PathLike,
    save_dir: str | os.PathLike,
    init: str = "scratch",
    supernet: str | os.PathLike | None = None,
    average_last: int | None = None,
    out: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
    cpu: bool = False,
    threads: int | None = None,
    extra_args: list[str] | None = None,
    world: World | None = None,
) -> TrainResult:
    """Train one SubTransformer as a standalone dense model (spec §6.1) and write `out`
    (default save_dir/checkpoint.pt): the best checkpoint, or the average of the last
    `average_last` epoch checkpoints (spec §6.2; default: the task's average-last-checkpoints).

    init="scratch": HAT's initialisation (a fresh supernet at super shapes, sliced; seed = `seed`
    setting). init="inherit": the slice of a trained supernet (`supernet` checkpoint), paper Table 6.
    """
    from hat.fairseq_plugin.trainer import run_training
    from hat.space import read_subconfig

    save_dir = Path(save_dir)
    config = read_subconfig(config_path)
    task.space.validate(config, source=str(config_path))
    average_last = task.average_last if average_last is None else average_last
    settings = _settings_for(world, task, overrides or {}, subtransformer=True, cpu=cpu)
    settings = _keeping_checkpoints(settings, average_last)
    argv = _base_argv(task, Path(data_dir), save_dir, cpu)
    if init not in ("scratch", "inherit"):
        raise HatError(f"--init must be 'scratch' or 'inherit', got '{init}'")
    if init == "inherit" and supernet is None:
        raise HatError("--init inherit needs --supernet CKPT")
    initial_weights = {"init": init, "seed": str(settings.get("seed", 1))} if init == "scratch" else {"init": init}
    if init == "inherit":
        initial_weights["supernet_sha256"] = sha256_file(supernet)
    init_model = save_dir / "init_model.pt"
    final = Path(out) if out is not None else save_dir / "checkpoint.pt"
    require_writable_dir(final.parent)
    rank_zero = launches_rank_zero()
    with _nothing_left_if_failed_before_a_checkpoint(save_dir) if rank_zero else contextlib.nullcontext():
        if rank_zero:
            _write_initial_model(task, config, Path(data_dir), init, supernet, settings, init_model)
            run = {**_run_identity(task, Path(data_dir)), **_carried_config(init_model), **initial_weights}
            claim_save_dir(save_dir, run)
            repair_last_checkpoint(save_dir)
        argv += ["--hat-init-model", str(init_model)] + fairseq_options(settings) + (extra_args or [])
        run_training(argv, threads, cpu)
    if rank_zero:
        write_final_model(save_dir, init_model, average_last, final, task)
    return _result(save_dir, final)


def _keeping_checkpoints(settings: dict[str, Any], count: int) -> dict[str, Any]:
    """`settings` with fairseq keeping at least the last `count` epoch/update checkpoints (its
    keep-last-epochs / keep-interval-updates delete older ones), so they can be averaged."""
    if count <= 1:
        return settings
    kept = dict(settings)
    for key in ("keep-last-epochs", "keep-interval-updates"):
        if key in kept and 0 <= int(kept[key]) < count:
            kept[key] = count
    return kept


@contextlib.contextmanager
def _nothing_left_if_failed_before_a_checkpoint(save_dir: Path):
    """A run that fails (or is interrupted) before fairseq wrote its first checkpoint leaves nothing
    to resume: remove what it set up (run.json, init_model.pt, the save dir if it made it), so a
    failed command leaves no partial output. Once a checkpoint exists, everything stays for the rerun."""
    created_dir = not save_dir.exists()
    require_writable_dir(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        if not any(save_dir.glob("checkpoint*.pt")):
            for name in (RUN_FILE, "init_model.pt"):
                (save_dir / name).unlink(missing_ok=True)
            if created_dir and not any(save_dir.iterdir()):
                save_dir.rmdir()
        raise


def _run_identity(task: Task, data_dir: Path) -> dict[str, Any]:
    """What every run's checkpoints depend on: task, design space, data."""
    return {"task": task.name, "space": task.space.to_hat_dict(), "data": data_fingerprint(data_dir)}


def _carried_config(init_model: Path) -> dict[str, Any]:
    """run.json's record of the SubTransformer, read back from the initial model that carries it
    (the task trains the config of that model; module docstring)."""
    from hat.export import stored_config

    return {"subtransformer": stored_config(init_model).to_hat_dict()}


def _write_initial_model(task, config, data_dir: Path, init: str, supernet, settings: dict, path: Path) -> None:
    import torch

    from hat.export import export_subtransformer, load_supernet, save_model
    from hat.fairseq_plugin.runtime import dictionary_size, require_matching_dictionaries
    from hat.supernet import SuperTransformer

    if init == "inherit":
        model, _ = load_supernet(supernet)
        require_matching_dictionaries(model.vocab_sizes, supernet, task, data_dir)
    else:
        vocab = {
            side: dictionary_size(data_dir / f"dict.{lang}.txt")
            for side, lang in (("src", task.source_lang), ("tgt", task.target_lang))
        }
        torch.manual_seed(int(settings.get("seed", 1)))
        model = SuperTransformer(
            task.space,
            vocab["src"],
            vocab["tgt"],
            padding_idx=1,
            dropout=float(settings.get("dropout", 0.1)),
            attention_dropout=float(settings.get("attention-dropout", 0.0)),
        )
    save_model(export_subtransformer(model, config), path, task=task.name)


def _checkpoints_to_average(save_dir: Path, count: int) -> list[Path]:
    """The last `count` epoch checkpoints (checkpointN.pt, highest N), as HAT's average script;
    update checkpoints (checkpoint_E_U.pt) when no epoch checkpoints exist."""
    for pattern in (_EPOCH_CHECKPOINT, _UPDATE_CHECKPOINT):
        numbered = [(int(m.group(1)), p) for p in save_dir.iterdir() if (m := pattern.search(p.name))]
        if numbered:
            return [p for _, p in sorted(numbered)[-count:]]
    return []


def average_state_dicts(paths: list[Path]) -> dict:
    """Arithmetic mean of the `model` tensors of several checkpoints, in fp32 (spec §6.2)."""
    total: dict = {}
    for path in paths:
        for name, tensor in load_checkpoint(path)["model"].items():
            total[name] = total.get(name, 0) + tensor.float()
    return {name: tensor / len(paths) for name, tensor in total.items()}


def write_final_model(save_dir: Path, init_model: Path, average_last: int, final: Path, task: Task) -> None:
    from hat.export import load_model, save_model

    if average_last > 1:
        sources = _checkpoints_to_average(save_dir, average_last)
        if len(sources) < average_last:
            raise HatError(
                f"{save_dir}: {len(sources)} epoch checkpoint(s) to average, {average_last} needed "
                "(train more epochs, or lower average-last-checkpoints)"
            )
        state = average_state_dicts(sources)
        logger.info("averaged %d checkpoints: %s", len(sources), ", ".join(p.name for p in sources))
    else:
        sources = [save_dir / "checkpoint_best.pt"]
        state = load_checkpoint(sources[0])["model"]
    model = load_model(init_model)
    model.load_state_dict(state)
    save_model(model, final, task=task.name, extra={FINAL_ORIGIN: [p.name for p in sources]})
