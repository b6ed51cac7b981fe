"""The fairseq task `hat_translation`: translation with HAT's SubTransformer sampling (spec §2).

* Supernet mode (`--hat-init-model` absent or a supernet): before every training step the task selects
  `space.sample(random.Random(update_num))`. fairseq passes the same `update_num` to every
  `update-freq` micro-batch and every DDP rank of one optimizer update, and a resumed run
  restores `num_updates`, so all of them train the same SubTransformer and the sequence is a
  pure function of the update number.
* Validation runs the fixed configs `largest` and `smallest` (arbitrary = 1 in every decoder
  layer, spec §2) and logs `largest_loss` and `smallest_loss`; fairseq's `loss` (best checkpoint,
  LR scheduler) is the `--hat-best-config` one, HAT's `smallest` by default.
* SubTransformer mode (`--hat-init-model MODEL.pt` of a dense SubTransformer, which
  `hat train subtransformer` writes as `init_model.pt`): training and validation use the config
  that model carries (`build_model` reads it), the one place a SubTransformer run keeps it.
"""

import json
import math
import random
from dataclasses import dataclass, field
from typing import Optional

from fairseq import utils
from fairseq.logging import metrics
from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask

from hat.errors import HatError
from hat.space import DesignSpace, SubConfig
from hat.tasks import load_task

VALIDATION_CONFIGS = ("largest", "smallest")


@dataclass
class HatTranslationConfig(TranslationConfig):
    hat_task: str = field(default="demo", metadata={"help": "HAT task name or task.yml (its design space)"})
    hat_best_config: str = field(
        default="smallest", metadata={"help": "validation config whose loss is fairseq's `loss`: largest|smallest"}
    )
    hat_sample_log: Optional[str] = field(  # noqa: UP045 (fairseq reads typing.Optional only)
        default=None,
        metadata={"help": "append one JSON line {update, rank, config} per micro-batch trained (for audits)"},
    )


def config_for_update(space: DesignSpace, update_num: int) -> SubConfig:
    """The SubTransformer trained at optimizer update `update_num` (0-based), spec §2."""
    return space.sample(random.Random(update_num))


def validation_configs(space: DesignSpace) -> dict[str, SubConfig]:
    """HAT's `largest_arbitrary1` and `smallest_arbitrary1` (spec §2)."""
    return {"largest": space.largest(arbitrary=1), "smallest": space.smallest(arbitrary=1)}


@register_task("hat_translation", dataclass=HatTranslationConfig)
class HatTranslationTask(TranslationTask):
    def __init__(self, cfg: HatTranslationConfig, src_dict, tgt_dict):
        super().__init__(cfg, src_dict, tgt_dict)
        self.hat_task = load_task(cfg.hat_task)
        self.hat_space = self.hat_task.space
        self.subtransformer: SubConfig | None = None  # set by build_model from a dense model
        if cfg.hat_best_config not in VALIDATION_CONFIGS:
            raise HatError(f"--hat-best-config must be one of {VALIDATION_CONFIGS}, got '{cfg.hat_best_config}'")

    def build_model(self, cfg, from_checkpoint=False):
        """fairseq's, then SubTransformer mode iff the model is a dense SubTransformer: the config
        its checkpoint (`--hat-init-model`) carries; a supernet carries none."""
        model = super().build_model(cfg, from_checkpoint)
        self.subtransformer = model.core.config
        return model

    # ---- which SubTransformer ----------------------------------------------------------------

    def train_config(self, update_num: int) -> SubConfig:
        if self.subtransformer is not None:
            return self.subtransformer
        return config_for_update(self.hat_space, update_num)

    def valid_configs(self) -> dict[str, SubConfig]:
        if self.subtransformer is not None:
            return {"subtransformer": self.subtransformer}
        return validation_configs(self.hat_space)

    # ---- fairseq hooks -------------------------------------------------------------------------

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        config = self.train_config(update_num)
        model.set_sample_config(config)
        self._log_sample(update_num, config)
        return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)

    def valid_step(self, sample, model, criterion):
        """One batch through every validation config; `loss` is the best-checkpoint config's."""
        configs = self.valid_configs()
        selected = "subtransformer" if self.subtransformer is not None else self.cfg.hat_best_config
        outputs = {}
        for name, config in configs.items():
            model.set_sample_config(config)
            outputs[name] = super().valid_step(sample, model, criterion)
        loss, sample_size, logging_output = outputs[selected]
        logging_output = dict(logging_output)
        for name, (_, _, output) in outputs.items():
            logging_output[f"{name}_loss"] = output["loss"]
        return loss, sample_size, logging_output

    def reduce_metrics(self, logging_outputs, criterion):
        super().reduce_metrics(logging_outputs, criterion)
        sample_size = sum(log.get("sample_size", 0) for log in logging_outputs)
        for name in ("subtransformer", *VALIDATION_CONFIGS):
            key = f"{name}_loss"
            if sample_size and any(key in log for log in logging_outputs):
                loss_sum = utils.item(sum(log.get(key, 0) for log in logging_outputs))
                metrics.log_scalar(key, loss_sum / sample_size / math.log(2), sample_size, round=3)

    def _log_sample(self, update_num: int, config: SubConfig) -> None:
        """One line per train_step call: every micro-batch of every DDP rank (one short O_APPEND
        write each, so the ranks' lines never interleave)."""
        if not self.cfg.hat_sample_log:
            return
        from fairseq.distributed import utils as distributed_utils

        entry = {"update": update_num, "rank": distributed_utils.get_global_rank(), "config": config.to_hat_dict()}
        with open(self.cfg.hat_sample_log, "a") as log:
            log.write(json.dumps(entry) + "\n")
