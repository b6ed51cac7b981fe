"""Running a fairseq training: fairseq's epoch loop with `HatTrainer` (used by hat.train).

`run_training(argv)` parses a fairseq-train command line and runs `main` on every worker
(`hat.fairseq_plugin.distributed`). `main` is `fairseq_cli.train.main` with two changes:
fairseq's own `Trainer` class is replaced by `HatTrainer`, whose checkpoints carry the `hat`
metadata (`hat.export.checkpoint_metadata`) and a content digest (`hat.io.with_digest`), and the
best-loss memory fairseq keeps on two of its functions is cleared first (`_forget_previous_runs`).
Everything else (`fairseq_cli.train.train`, checkpoint loading, LR steps) is fairseq's.
"""

from __future__ import annotations

import logging
import math
import os

from fairseq.trainer import Trainer

import hat.fairseq_plugin  # noqa: F401  (registers the plugin in spawned DDP workers too)

logger = logging.getLogger("hat.train")


def run_training(argv: list[str], threads: int | None = None, cpu: bool = False) -> None:
    """Parse a fairseq-train command line and train on its workers (hat.fairseq_plugin.distributed)."""
    import torch
    from fairseq import options

    from hat.fairseq_plugin import distributed, runtime

    if threads:
        torch.set_num_threads(threads)
    distributed.launch(runtime.parse(options.get_training_parser(), argv), main, cpu, threads)


def main(cfg) -> None:
    """fairseq_cli.train.main with HatTrainer: same epoch loop, same `train()`."""
    import numpy as np
    from fairseq import checkpoint_utils, tasks, utils
    from fairseq.dataclass.initialize import add_defaults
    from fairseq.distributed import utils as distributed_utils
    from fairseq.logging import metrics
    from fairseq_cli.train import train

    utils.import_user_module(cfg.common)
    add_defaults(cfg)
    metrics.reset()
    _forget_previous_runs()
    np.random.seed(cfg.common.seed)
    utils.set_torch_seed(cfg.common.seed)
    if distributed_utils.is_master(cfg.distributed_training):
        checkpoint_utils.verify_checkpoint_directory(cfg.checkpoint.save_dir)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    for subset in cfg.dataset.valid_subset.split(","):
        task.load_dataset(subset, combine=False, epoch=1)
    trainer = HatTrainer(cfg, task, model, criterion)
    logger.info(
        "model %s, %d parameters, %d worker(s), max tokens %s",
        "supernet" if task.subtransformer is None else "SubTransformer",
        sum(p.numel() for p in model.parameters()),
        cfg.distributed_training.distributed_world_size,
        cfg.dataset.max_tokens,
    )
    _, epoch_itr = checkpoint_utils.load_checkpoint(cfg.checkpoint, trainer)
    max_epoch = cfg.optimization.max_epoch or math.inf
    lr = trainer.get_lr()
    while epoch_itr.next_epoch_idx <= max_epoch and lr > cfg.optimization.stop_min_lr:
        valid_losses, should_stop = train(cfg, trainer, task, epoch_itr)
        if should_stop:
            break
        lr = trainer.lr_step(epoch_itr.epoch, valid_losses[0])
        epoch_itr = trainer.get_train_iterator(epoch_itr.next_epoch_idx)


def _forget_previous_runs() -> None:
    """fairseq keeps the best validation loss as attributes of two functions, so a second training
    in one process would compare against the first run's best (and never write checkpoint_best.pt).
    A resumed run gets its own best back from checkpoint_last.pt."""
    from fairseq import checkpoint_utils
    from fairseq_cli.train import should_stop_early

    for function, attributes in (
        (checkpoint_utils.save_checkpoint, ("best",)),
        (should_stop_early, ("best", "num_runs")),
    ):
        for attribute in attributes:
            if hasattr(function, attribute):
                delattr(function, attribute)


class HatTrainer(Trainer):
    """fairseq's Trainer whose checkpoints also carry the `hat` metadata (module docstring)."""

    def state_dict(self):
        from hat.export import checkpoint_metadata

        state = super().state_dict()
        task = self.task
        state["hat"] = checkpoint_metadata(self.get_model().core, task.hat_space, task.hat_task.name)
        if task.subtransformer is None:  # a supernet: the config selected last is only the last sample
            state["hat"]["config"] = None
        return state

    def save_checkpoint(self, filename, extra_state):
        """fairseq's, plus the content digest over the complete state (hat.io.with_digest):
        fairseq adds extra_state after state_dict(), so the digest is taken here."""
        from fairseq import checkpoint_utils, utils

        from hat.io import with_digest

        if not self.should_save_checkpoint_on_current_rank:
            return None
        state = utils.move_to_cpu(self.state_dict())
        state["extra_state"].update(extra_state)
        async_write = self.cfg.checkpoint.write_checkpoints_asynchronously
        checkpoint_utils.torch_persistent_save(with_digest(state), filename, async_write=async_write)
        return os.path.abspath(filename)
