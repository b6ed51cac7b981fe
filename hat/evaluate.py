"""Beam-search translation of a test split and HAT's two BLEU scores (hat-spec §6.3).

* `bleu` (HAT's "normal" mode, the paper's BLEU column): hypotheses and references, both
  tokenized and BPE-removed, with every hyphenated compound `X-Y` split as `X ##AT##-##AT## Y`
  (fairseq's compound_split_bleu.sh rule, applied for every task), scored as 4-gram,
  case-sensitive corpus BLEU on whitespace tokens without smoothing (fairseq's scorer).
* `sacrebleu`: no compound splitting; both sides Moses-detokenized with English rules (as the
  sacremoses CLI default HAT used), then SacreBLEU with its defaults (13a); the signature is
  reported with it.

References are the test set's binarized targets (BPE removed), as fairseq's generate prints them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hat.errors import HatError
from hat.io import read_text, require_writable_dir, write_text_atomic
from hat.tasks import Task

_COMPOUND = re.compile(r"(\S)-(\S)")
GENERATION_BATCH_SIZE = 128  # sentences per batch, as HAT's test.sh


def split_compounds(line: str) -> str:
    """`X-Y` between non-space characters -> `X ##AT##-##AT## Y` (left to right, non-overlapping,
    exactly perl's s{(\\S)-(\\S)}{$1 ##AT##-##AT## $2}g)."""
    return _COMPOUND.sub(r"\1 ##AT##-##AT## \2", line)


def tokenized_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """HAT's `normal` BLEU (module docstring) of tokenized, BPE-removed lines."""
    from sacrebleu.metrics import BLEU

    _check_lengths(hypotheses, references)
    metric = BLEU(tokenize="none", smooth_method="none", force=True)
    hyps = [split_compounds(line) for line in hypotheses]
    refs = [split_compounds(line) for line in references]
    return metric.corpus_score(hyps, [refs]).score


def sacre_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """HAT's `sacre` BLEU (module docstring) and SacreBLEU's signature."""
    from sacrebleu.metrics import BLEU
    from sacremoses import MosesDetokenizer

    _check_lengths(hypotheses, references)
    detokenizer = MosesDetokenizer(lang="en")

    def detok(lines: Sequence[str]) -> list[str]:
        return [detokenizer.detokenize(line.split()) for line in lines]

    metric = BLEU()
    score = metric.corpus_score(detok(hypotheses), [detok(references)]).score
    return score, str(metric.get_signature())


def _check_lengths(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise HatError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    if not hypotheses:
        raise HatError("nothing to score (empty test set)")


@dataclass(frozen=True)
class Translation:
    sentence_id: int
    source: str
    hypothesis: str
    reference: str


def load_for_inference(checkpoint: str | os.PathLike, config_path: str | os.PathLike | None = None):
    """The core model of a hat checkpoint (exported/trained SubTransformer, or a supernet with
    `config_path` selecting the SubTransformer), in eval mode."""
    from hat.export import load_model
    from hat.space import read_subconfig

    model = load_model(checkpoint)
    if config_path is not None:
        model.set_sample_config(read_subconfig(config_path))
    if model.config is None:
        raise HatError(f"{checkpoint}: a supernet checkpoint; pass --config SUB.yml to pick the SubTransformer")
    return model.eval()


def translate(
    task: Task,
    checkpoint: str | os.PathLike,
    data_dir: str | os.PathLike,
    subset: str = "test",
    beam: int | None = None,
    lenpen: float | None = None,
    config_path: str | os.PathLike | None = None,
    device: str = "cpu",
) -> list[Translation]:
    """Beam search over `subset` with the task's beam/lenpen unless given; sentence-id order."""
    import torch
    from fairseq import utils
    from fairseq.dataclass.configs import GenerationConfig
    from tqdm import tqdm

    from hat.fairseq_plugin.model import HatTransformerModel
    from hat.fairseq_plugin.runtime import require_matching_dictionaries, setup_task

    _, fs_task = setup_task(task, data_dir, (subset,))
    core = load_for_inference(checkpoint, config_path)
    require_matching_dictionaries(core.vocab_sizes, checkpoint, task, data_dir)
    model = HatTransformerModel(core, fs_task.source_dictionary, fs_task.target_dictionary).to(device).eval()
    generation = GenerationConfig(beam=beam or task.beam, lenpen=task.lenpen if lenpen is None else lenpen)
    generator = fs_task.build_generator([model], generation)
    batches = fs_task.get_batch_iterator(
        dataset=fs_task.dataset(subset),
        max_sentences=GENERATION_BATCH_SIZE,
        max_positions=utils.resolve_max_positions(fs_task.max_positions(), model.max_positions()),
    ).next_epoch_itr(shuffle=False)
    src_dict, tgt_dict = fs_task.source_dictionary, fs_task.target_dictionary
    translations = []
    with torch.no_grad():
        for sample in tqdm(batches, desc=f"translate {subset}", unit="batch"):
            sample = utils.move_to_cuda(sample, device=torch.device(device)) if device != "cpu" else sample
            hypos = fs_task.inference_step(generator, [model], sample)
            for i, sentence_id in enumerate(sample["id"].tolist()):
                translations.append(
                    Translation(
                        sentence_id,
                        src_dict.string(utils.strip_pad(sample["net_input"]["src_tokens"][i], src_dict.pad()),
                                        "subword_nmt"),
                        tgt_dict.string(hypos[i][0]["tokens"].int().cpu(), "subword_nmt"),
                        tgt_dict.string(utils.strip_pad(sample["target"][i], tgt_dict.pad()), "subword_nmt",
                                        escape_unk=True),
                    )
                )  # fmt: skip
    return sorted(translations, key=lambda t: t.sentence_id)


def hypotheses_path(bleu_path: str | os.PathLike) -> Path:
    """Where the hypotheses of `bleu.txt` go: `bleu.hypotheses.txt` beside it."""
    bleu_path = Path(bleu_path)
    return bleu_path.with_name(f"{bleu_path.stem}.hypotheses.txt")


def evaluate(
    task: Task,
    checkpoint: str | os.PathLike,
    data_dir: str | os.PathLike,
    out: str | os.PathLike,
    subset: str = "test",
    beam: int | None = None,
    lenpen: float | None = None,
    config_path: str | os.PathLike | None = None,
    device: str = "cpu",
) -> dict[str, str]:
    """Translate, score, and write `out` (`key: value` lines) plus the hypotheses beside it."""
    beam = beam or task.beam
    lenpen = task.lenpen if lenpen is None else lenpen
    require_writable_dir(Path(out).parent)  # before the beam search, not after it
    translations = translate(task, checkpoint, data_dir, subset, beam, lenpen, config_path, device)
    hyps = [t.hypothesis for t in translations]
    refs = [t.reference for t in translations]
    sacre, signature = sacre_bleu(hyps, refs)
    hyp_file = hypotheses_path(out)
    write_text_atomic(hyp_file, "".join(h + "\n" for h in hyps))
    report = {
        "bleu": f"{tokenized_bleu(hyps, refs):.2f}",
        "sacrebleu": f"{sacre:.2f}",
        "sacrebleu_signature": signature,
        "beam": str(beam),
        "lenpen": str(lenpen),
        "checkpoint": str(checkpoint),
        "subset": subset,
        "sentences": str(len(translations)),
        "hypotheses": hyp_file.name,
    }
    write_text_atomic(out, "".join(f"{key}: {value}\n" for key, value in report.items()))
    return report


def read_report(path: str | os.PathLike) -> dict[str, str]:
    """Parse a bleu.txt written by `evaluate`."""
    report = {}
    for number, line in enumerate(read_text(path).splitlines(), 1):
        key, sep, value = line.partition(": ")
        if not sep:
            raise HatError(f"{path}:{number}: expected 'key: value', got {line!r}")
        report[key] = value
    return report
