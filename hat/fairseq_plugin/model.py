"""The fairseq model `hat_transformer`: fairseq's encoder/decoder interfaces around the core.

The core `SuperTransformer` (hat/supernet.py) holds every parameter; the fairseq encoder and
decoder below only translate calling conventions and hold no parameters of their own. The
model's `state_dict()` is the core's own state dict (keys such as `encoder.layers.0.ffn.fc1.weight`),
so the checkpoints fairseq writes are readable by torch-only code (`hat.export.load_model`).
"""

from dataclasses import dataclass, field
from typing import Any, Optional

from fairseq.dataclass import FairseqDataclass
from fairseq.models import (
    FairseqEncoder,
    FairseqEncoderDecoderModel,
    FairseqIncrementalDecoder,
    register_model,
)
from torch import Tensor

from hat.space import SubConfig
from hat.supernet import MAX_POSITIONS, SuperTransformer


@dataclass
class HatModelConfig(FairseqDataclass):
    dropout: float = field(default=0.1, metadata={"help": "dropout at the super width (scaled with width, spec §1.6)"})
    attention_dropout: float = field(default=0.0, metadata={"help": "attention-probability dropout (never scaled)"})
    hat_init_model: Optional[str] = field(  # noqa: UP045 (fairseq reads typing.Optional only)
        default=None,
        metadata={"help": "start from this hat model checkpoint (hat.export.save_model) instead of a fresh supernet"},
    )


def _hold(owner: Any, name: str, module: Any) -> None:
    """Keep a reference to a core module without registering it as a child: the parameters are
    registered once, under the fairseq model's `core`."""
    owner.__dict__[name] = module


class HatEncoder(FairseqEncoder):
    def __init__(self, dictionary, core_encoder):
        super().__init__(dictionary)
        _hold(self, "core", core_encoder)

    def forward(self, src_tokens: Tensor, src_lengths: Tensor | None = None, **unused) -> dict[str, Any]:
        return self.core(src_tokens, src_lengths)

    def reorder_encoder_out(self, encoder_out: dict[str, Any], new_order: Tensor) -> dict[str, Any]:
        return self.core.reorder_encoder_out(encoder_out, new_order)

    def max_positions(self) -> int:
        return MAX_POSITIONS


class HatDecoder(FairseqIncrementalDecoder):
    def __init__(self, dictionary, core_decoder):
        super().__init__(dictionary)
        _hold(self, "core", core_decoder)

    def forward(self, prev_output_tokens: Tensor, encoder_out=None, incremental_state=None, **unused):
        """-> (logits [B, T, V] or [B, 1, V] when incremental, extra); fairseq's decoder contract."""
        return self.core(prev_output_tokens, encoder_out, incremental_state=incremental_state), {"attn": None}

    def reorder_incremental_state(self, incremental_state: dict, new_order: Tensor) -> None:
        self.core.reorder_incremental_state(incremental_state, new_order)

    def reorder_incremental_state_scripting(self, incremental_state: dict, new_order: Tensor) -> None:
        # fairseq's default walks self.modules(); the cache lives in one place, reorder it once.
        self.reorder_incremental_state(incremental_state, new_order)

    def max_positions(self) -> int:
        return MAX_POSITIONS


# Registering with a dataclass also registers the arch `hat_transformer`: shapes come from the HAT
# task's design space, not from arch presets.
@register_model("hat_transformer", dataclass=HatModelConfig)
class HatTransformerModel(FairseqEncoderDecoderModel):
    """fairseq's view of a `SuperTransformer` (a supernet or an exported dense SubTransformer)."""

    def __init__(self, core: SuperTransformer, src_dict, tgt_dict):
        super().__init__(HatEncoder(src_dict, core.encoder), HatDecoder(tgt_dict, core.decoder))
        self.core = core

    @classmethod
    def build_model(cls, cfg: HatModelConfig, task) -> "HatTransformerModel":
        if cfg.hat_init_model:
            core = _load_with_dropout(cfg.hat_init_model, cfg.dropout, cfg.attention_dropout)
        else:
            core = SuperTransformer(
                task.hat_space,
                len(task.source_dictionary),
                len(task.target_dictionary),
                padding_idx=task.target_dictionary.pad(),
                dropout=cfg.dropout,
                attention_dropout=cfg.attention_dropout,
            )
        return cls(core.train(), task.source_dictionary, task.target_dictionary)

    def set_sample_config(self, config: SubConfig) -> None:
        self.core.set_sample_config(config)

    def max_positions(self):
        return (MAX_POSITIONS, MAX_POSITIONS)

    # Checkpoints hold the core's own keys (see the module docstring).
    def state_dict(self, *args, **kwargs):
        return self.core.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict=True, model_cfg=None, args=None):
        return self.core.load_state_dict(state_dict, strict=strict)


def _load_with_dropout(path: str, dropout: float, attention_dropout: float) -> SuperTransformer:
    """A hat model checkpoint rebuilt with this run's dropout (the stored model keeps its own)."""
    from hat.export import load_model

    stored = load_model(path)
    hyperparameters = {**stored.hyperparameters(), "dropout": dropout, "attention_dropout": attention_dropout}
    model = SuperTransformer.from_hyperparameters(hyperparameters)
    model.load_state_dict(stored.state_dict())
    if stored.config is not None:
        model.set_sample_config(stored.config)
    return model
