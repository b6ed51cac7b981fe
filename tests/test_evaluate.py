"""BLEU scoring and `hat evaluate` (hat.evaluate, spec §6.3)."""

import random
import shutil
import subprocess

import pytest
from fixtures_train import corpus_dir, trained_supernet

from hat.errors import HatError
from hat.evaluate import read_report, sacre_bleu, split_compounds, tokenized_bleu

COMPOUND_CASES = {
    "a well-known fact": "a well ##AT##-##AT## known fact",
    "state-of-the-art": "state ##AT##-##AT## of ##AT##-##AT## the ##AT##-##AT## art",
    "a-b-c": "a ##AT##-##AT## b-c",  # non-overlapping, left to right, as perl's s///g
    "x - y": "x - y",
    "-leading trailing-": "-leading trailing-",
    "Moses @-@ split": "Moses @ ##AT##-##AT## @ split",
}


@pytest.mark.parametrize("line", list(COMPOUND_CASES))
def test_compound_splitting_matches_spec(line):
    assert split_compounds(line) == COMPOUND_CASES[line]


@pytest.mark.skipif(shutil.which("perl") is None, reason="perl not installed")
def test_compound_splitting_equals_fairseqs_perl_rule():
    lines = list(COMPOUND_CASES) + ["e-mail co-op x-y-z-w 1-2 --", "a--b a-- --b"]
    perl = subprocess.run(
        ["perl", "-ple", "s{(\\S)-(\\S)}{$1 ##AT##-##AT## $2}g"], input="\n".join(lines) + "\n",
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert [split_compounds(line) for line in lines] == perl.stdout.splitlines()


def test_perfect_hypotheses_score_100():
    refs = ["the cat sat on the mat .", "a well-known , long-winded sentence here ."]
    assert tokenized_bleu(refs, refs) == pytest.approx(100.0)
    assert sacre_bleu(refs, refs)[0] == pytest.approx(100.0)


def test_tokenized_bleu_equals_fairseqs_scorer():
    from fairseq.data import Dictionary
    from fairseq.scoring.bleu import BleuConfig, Scorer

    rng = random.Random(0)
    words = [f"w{i}" for i in range(12)] + ["a-b", "c-d"]
    refs = [" ".join(rng.choices(words, k=rng.randint(4, 12))) for _ in range(50)]
    hyps = [" ".join(w if rng.random() < 0.7 else rng.choice(words) for w in r.split()) for r in refs]
    vocab = Dictionary()
    scorer = Scorer(BleuConfig(pad=vocab.pad(), eos=vocab.eos(), unk=vocab.unk()))
    for ref, hyp in zip(refs, hyps):
        scorer.add(vocab.encode_line(split_compounds(ref)).int(), vocab.encode_line(split_compounds(hyp)).int())
    assert tokenized_bleu(hyps, refs) == pytest.approx(scorer.score(), abs=1e-4)


def test_mismatched_lengths_are_errors():
    with pytest.raises(HatError, match="2 hypotheses for 1 references"):
        tokenized_bleu(["a", "b"], ["a"])


def test_evaluate_writes_report_and_hypotheses(tmp_path_factory, tmp_path):
    from hat.cli import main
    from hat.space import write_subconfig
    from hat.tasks import load_task

    demo = load_task("demo")
    write_subconfig(demo.space.smallest(1), tmp_path / "sub.yml")
    supernet = trained_supernet(tmp_path_factory) / "checkpoint_best.pt"
    args = ["evaluate", "--task", "demo", "--checkpoint", str(supernet), "--config", str(tmp_path / "sub.yml")]
    assert main(args + ["--data", str(corpus_dir(tmp_path_factory)), "--out", str(tmp_path / "bleu.txt")]) == 0
    report = read_report(tmp_path / "bleu.txt")
    for key in ("bleu", "sacrebleu", "sacrebleu_signature", "beam", "lenpen", "checkpoint", "subset"):
        assert key in report
    assert 0.0 <= float(report["bleu"]) <= 100.0 and report["sacrebleu_signature"].startswith("nrefs:1")
    assert (report["beam"], report["lenpen"], report["subset"]) == ("4", "0.6", "test")
    hypotheses = (tmp_path / report["hypotheses"]).read_text().splitlines()
    assert len(hypotheses) == int(report["sentences"]) == 20


def test_supernet_checkpoint_without_config_is_a_hat_error(tmp_path_factory, tmp_path):
    from hat.cli import main

    supernet = trained_supernet(tmp_path_factory) / "checkpoint_best.pt"
    args = ["evaluate", "--task", "demo", "--checkpoint", str(supernet), "--data", str(corpus_dir(tmp_path_factory))]
    assert main(args + ["--out", str(tmp_path / "bleu.txt")]) == 2


def test_averaged_subtransformer_names_the_average_on_the_checkpoint_line(tmp_path_factory, tmp_path):
    """A task's average-last-checkpoints (IWSLT: 10) is the default of `hat train subtransformer`;
    fairseq keeps enough epoch checkpoints (the demo YAML's keep-last-epochs 2 is raised to 3), and
    bleu.txt's `checkpoint:` line says what was averaged."""
    import yaml
    from fixtures_train import FAST_TRAINING

    from hat.cli import main
    from hat.space import write_subconfig
    from hat.tasks import CONFIG_ROOT, load_task
    from hat.train import train_subtransformer

    shutil.copytree(CONFIG_ROOT / "demo", tmp_path / "task")
    task_file = tmp_path / "task" / "task.yml"
    task_file.write_text(yaml.safe_dump({**yaml.safe_load(task_file.read_text()), "average-last-checkpoints": 3}))
    task = load_task(task_file)
    write_subconfig(task.space.smallest(1), tmp_path / "sub.yml")
    data = corpus_dir(tmp_path_factory)
    result = train_subtransformer(
        task, tmp_path / "sub.yml", data, tmp_path / "train", overrides={**FAST_TRAINING, "max-update": "15"}, cpu=True
    )
    epochs = sorted(p.name for p in (tmp_path / "train").glob("checkpoint[0-9]*.pt"))
    assert epochs == ["checkpoint1.pt", "checkpoint2.pt", "checkpoint3.pt"]
    args = ["evaluate", "--task", str(task_file), "--checkpoint", str(result.checkpoint), "--data", str(data)]
    assert main(args + ["--out", str(tmp_path / "bleu.txt")]) == 0
    line = read_report(tmp_path / "bleu.txt")["checkpoint"]
    assert line == f"{result.checkpoint} (average of the last 3: checkpoint1.pt..checkpoint3.pt)"

    from hat.evaluate import describe_checkpoint
    from hat.train import write_final_model

    write_final_model(tmp_path / "train", tmp_path / "train" / "init_model.pt", 1, tmp_path / "best.pt", task)
    assert describe_checkpoint(tmp_path / "best.pt") == f"{tmp_path / 'best.pt'} (checkpoint_best.pt)"


@pytest.mark.parametrize(("target", "device"), [("wmt14ende/titanxp@200ms", "cuda"), ("demo/cpu@18ms", "cpu")])
def test_evaluate_rule_runs_on_the_tasks_device(tmp_path, target, device):
    """The evaluate job reserves a GPU for cuda tasks; its command must also use it (dry run)."""
    import re
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    snakemake = Path(sys.executable).parent / "snakemake"
    command = [str(snakemake), "--snakefile", str(repo / "Snakefile"), "--directory", str(tmp_path)]
    result = subprocess.run(
        [*command, "--dry-run", "--printshellcmds", f"results/{target}/bleu.txt"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    evaluate = [line for line in output.splitlines() if line.startswith("Shell command: hat evaluate")]
    assert len(evaluate) == 1 and re.search(rf"--device {device}\b", evaluate[0]), evaluate


def test_iwslt_averages_the_last_10_checkpoints_and_wmt_uses_the_best():
    from hat.tasks import load_task

    assert {name: load_task(name).average_last for name in ("iwslt14deen", "wmt14ende", "wmt14enfr", "wmt19ende")} == {
        "iwslt14deen": 10, "wmt14ende": 1, "wmt14enfr": 1, "wmt19ende": 1
    }  # fmt: skip
