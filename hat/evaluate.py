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


def detokenize(lines: Sequence[str]) -> list[str]:
    """Moses detokenization with English rules, as the sacremoses CLI default HAT's test.sh used."""
    from sacremoses import MosesDetokenizer

    detokenizer = MosesDetokenizer(lang="en")
    return [detokenizer.detokenize(line.split()) for line in lines]


def sacre_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """HAT's `sacre` BLEU (module docstring) and SacreBLEU's signature."""
    from sacrebleu.metrics import BLEU

    _check_lengths(hypotheses, references)
    metric = BLEU()
    score = metric.corpus_score(detokenize(hypotheses), [detokenize(references)]).score
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


def load_for_inference(
    checkpoint: str | os.PathLike, config_path: str | os.PathLike | None = None, task: Task | None = None
):
    """The core model of a hat checkpoint (exported/trained SubTransformer, or a supernet with
    `config_path` selecting the SubTransformer), or of a HAT checkpoint (its SubTransformer YAML
    as `config_path`; the weights must fit `task`'s space), in eval mode."""
    from hat.export import load_model
    from hat.interop.hat_format import is_hat_file, supernet_from_hat
    from hat.space import read_subconfig

    if task is not None and is_hat_file(checkpoint):
        model = supernet_from_hat(checkpoint, task.space, task.training_defaults)
    else:
        model = load_model(checkpoint)
    if config_path is not None:
        model.set_sample_config(read_subconfig(config_path))
    if model.config is None:
        raise HatError(f"{checkpoint}: a supernet checkpoint; pass --config SUB.yml to pick the SubTransformer")
    return model.eval()


def is_onnx_export(path: str | os.PathLike) -> bool:
    """An ONNX export (`hat export --format onnx`): its directory or its model.json."""
    path = Path(path)
    return (path / "model.json").is_file() if path.is_dir() else path.name == "model.json"


def inference_model(checkpoint, config_path, precision: str | None, src_dict, tgt_dict, device: str, task, data_dir):
    """(fairseq model, runtime, precision, bytes on disk) for `checkpoint`: an ONNX export runs in
    onnxruntime at the precision it was exported in; a PyTorch checkpoint runs eagerly, int8 after
    torch.ao dynamic quantization of its exported dense model (hat.runtime.quantize)."""
    from hat.export import export_subtransformer
    from hat.fairseq_plugin.model import HatTransformerModel
    from hat.fairseq_plugin.runtime import require_matching_dictionaries
    from hat.runtime.quantize import quantize_torch, torch_size_on_disk

    if is_onnx_export(checkpoint):
        from hat.fairseq_plugin.ort_model import OrtTransformerModel
        from hat.runtime.onnx_export import size_on_disk
        from hat.runtime.ort_model import OrtSubTransformer

        onnx_dir = Path(checkpoint) if Path(checkpoint).is_dir() else Path(checkpoint).parent
        session = OrtSubTransformer(onnx_dir)
        if precision not in (None, session.precision):
            raise HatError(f"{checkpoint}: an {session.precision} ONNX export, not {precision} (export it again)")
        if device != "cpu":
            raise HatError(f"{checkpoint}: ONNX exports run on onnxruntime's CPU provider here (--device cpu)")
        model = OrtTransformerModel(session, src_dict, tgt_dict)
        return model, "onnxruntime", session.precision, size_on_disk(onnx_dir)
    core = load_for_inference(checkpoint, config_path, task)
    require_matching_dictionaries(core.vocab_sizes, checkpoint, task, data_dir)
    if precision == "int8":
        if device != "cpu":
            raise HatError("--precision int8 with the torch runtime is torch.ao dynamic quantization: CPU only")
        core = quantize_torch(export_subtransformer(core, core.config).eval())
    size = torch_size_on_disk(core) if precision == "int8" else Path(checkpoint).stat().st_size
    model = HatTransformerModel(core, src_dict, tgt_dict).to(device).eval()
    return model, "torch", precision or "fp32", size


def translate(
    task: Task,
    checkpoint: str | os.PathLike,
    data_dir: str | os.PathLike,
    subset: str = "test",
    beam: int | None = None,
    lenpen: float | None = None,
    config_path: str | os.PathLike | None = None,
    device: str = "cpu",
    precision: str | None = None,
) -> list[Translation]:
    """Beam search over `subset` with the task's beam/lenpen unless given; sentence-id order.
    `checkpoint` may be an ONNX export (decoded in onnxruntime, `inference_model`)."""
    return _translate(task, checkpoint, data_dir, subset, beam, lenpen, config_path, device, precision)[0]


def _translate(task, checkpoint, data_dir, subset, beam, lenpen, config_path, device, precision):
    """(translations, runtime, precision, bytes on disk): `translate` and what it ran."""
    import torch
    from fairseq import utils
    from fairseq.dataclass.configs import GenerationConfig
    from tqdm import tqdm

    from hat.fairseq_plugin.runtime import setup_task

    _, fs_task = setup_task(task, data_dir, (subset,))
    model, runtime, precision, size = inference_model(
        checkpoint, config_path, precision, fs_task.source_dictionary, fs_task.target_dictionary, device, task, data_dir
    )
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
    return sorted(translations, key=lambda t: t.sentence_id), runtime, precision, size


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
    precision: str | None = None,
) -> dict[str, str]:
    """Translate, score, and write `out` (`key: value` lines) plus the hypotheses beside it, as
    the detokenized text SacreBLEU scored."""
    beam = beam or task.beam
    lenpen = task.lenpen if lenpen is None else lenpen
    require_writable_dir(Path(out).parent)  # before the beam search, not after it
    translations, runtime, precision, size = _translate(
        task, checkpoint, data_dir, subset, beam, lenpen, config_path, device, precision
    )
    hyps = [t.hypothesis for t in translations]
    refs = [t.reference for t in translations]
    sacre, signature = sacre_bleu(hyps, refs)
    hyp_file = hypotheses_path(out)
    write_text_atomic(hyp_file, "".join(h + "\n" for h in detokenize(hyps)))
    report = {
        "bleu": f"{tokenized_bleu(hyps, refs):.2f}",
        "sacrebleu": f"{sacre:.2f}",
        "sacrebleu_signature": signature,
        "beam": str(beam),
        "lenpen": str(lenpen),
        "checkpoint": describe_checkpoint(checkpoint),
        "subset": subset,
        "sentences": str(len(translations)),
        "hypotheses": hyp_file.name,
        "runtime": runtime,
        "precision": precision,
        "model_bytes": str(size),
    }
    write_text_atomic(out, "".join(f"{key}: {value}\n" for key, value in report.items()))
    return report


def describe_checkpoint(checkpoint: str | os.PathLike) -> str:
    """The checkpoint's path and which training checkpoints it holds: `(average of the last 10:
    checkpoint41.pt..checkpoint50.pt)` (IWSLT) or `(checkpoint_best.pt)` (WMT), from the entry
    `hat train subtransformer` writes; the bare path for any other checkpoint (HAT's files and
    ONNX exports included)."""
    from hat.interop.hat_format import is_hat_file
    from hat.io import load_checkpoint
    from hat.train import FINAL_ORIGIN

    if is_onnx_export(checkpoint) or is_hat_file(checkpoint):
        return str(checkpoint)
    sources = load_checkpoint(checkpoint).get(FINAL_ORIGIN)
    if not sources:
        return str(checkpoint)
    if len(sources) == 1:
        return f"{checkpoint} ({sources[0]})"
    return f"{checkpoint} (average of the last {len(sources)}: {sources[0]}..{sources[-1]})"


def read_report(path: str | os.PathLike) -> dict[str, str]:
    """Parse a bleu.txt written by `evaluate`."""
    report = {}
    for number, line in enumerate(read_text(path).splitlines(), 1):
        key, sep, value = line.partition(": ")
        if not sep:
            raise HatError(f"{path}:{number}: expected 'key: value', got {line!r}")
        report[key] = value
    return report
