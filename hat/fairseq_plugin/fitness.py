"""The inherited loss: the evolutionary search's fitness (hat-spec §5), `hat inherited-loss`.

The inherited loss of a SubTransformer is its loss on a data split (the valid split by default)
with the supernet's leading slices as its weights, without any fine-tuning: fairseq's
label-smoothed cross-entropy (eps 0.1, the `label_smoothed_cross_entropy` criterion itself),
summed over the split and divided by the number of target tokens, in base 2; eval mode (no
dropout), no grad, unshuffled batches of `max-tokens`. `max_batches` caps the number of
batches, as HAT's `--valid-cnt-max` does.

`InheritedLoss` loads the data and the supernet once and keeps the batches in memory (on the
device), so scoring many SubTransformers costs only their forward passes. Called with a batch of
configs it returns their losses: it is a `hat.search.run.FitnessFactory`, which `hat search`
hands to the (torch-only) search.
"""

from __future__ import annotations

import math
import os

from hat.space import SubConfig
from hat.tasks import Task

LABEL_SMOOTHING = 0.1


class InheritedLoss:
    def __init__(
        self,
        task: Task,
        supernet_checkpoint: str | os.PathLike,
        data_dir: str | os.PathLike,
        device: str = "cpu",
        max_batches: int | None = None,
        subset: str = "valid",
        max_tokens: int | None = None,
    ):
        import torch
        from fairseq import utils
        from fairseq.criterions.label_smoothed_cross_entropy import (
            LabelSmoothedCrossEntropyCriterion,
        )

        from hat.export import load_supernet
        from hat.fairseq_plugin.model import HatTransformerModel
        from hat.fairseq_plugin.runtime import require_matching_dictionaries, setup_task

        self.space = task.space
        _, fs_task = setup_task(task, data_dir, (subset,))
        core, _ = load_supernet(supernet_checkpoint)
        require_matching_dictionaries(core.vocab_sizes, supernet_checkpoint, task, data_dir)
        self.model = HatTransformerModel(core, fs_task.source_dictionary, fs_task.target_dictionary)
        self.model.to(device).eval()
        self.criterion = LabelSmoothedCrossEntropyCriterion(
            fs_task, sentence_avg=False, label_smoothing=LABEL_SMOOTHING
        )
        batches = fs_task.get_batch_iterator(
            dataset=fs_task.dataset(subset),
            max_tokens=max_tokens or int(task.training_defaults.get("max-tokens", 4096)),
            max_positions=utils.resolve_max_positions(fs_task.max_positions(), self.model.max_positions()),
        ).next_epoch_itr(shuffle=False)
        self.batches = []
        for sample in batches:
            if max_batches is not None and len(self.batches) >= max_batches:
                break
            self.batches.append(utils.move_to_cuda(sample, torch.device(device)) if device != "cpu" else sample)

    def loss(self, config: SubConfig) -> float:
        """The inherited loss of `config`: label-smoothed CE per target token, base 2."""
        import torch

        self.space.validate(config)
        self.model.set_sample_config(config)
        loss_sum, tokens = 0.0, 0
        with torch.no_grad():
            for sample in self.batches:
                loss, sample_size, _ = self.criterion(self.model, sample)
                loss_sum += loss.item()
                tokens += sample_size
        return loss_sum / tokens / math.log(2)

    def __call__(self, configs: list[SubConfig]) -> list[float]:
        """The inherited loss of each config (the search's batch fitness)."""
        return [self.loss(config) for config in configs]
