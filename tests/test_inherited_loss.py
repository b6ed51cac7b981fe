"""The inherited loss (hat.fairseq_plugin.fitness), checked against fairseq's own validation."""

import dataclasses

import pytest
from fixtures_train import corpus_dir, trained_supernet

from hat.errors import HatError
from hat.export import export_subtransformer, load_supernet, save_model
from hat.space import write_subconfig


@pytest.fixture(scope="module")
def inherited_loss(demo_task, tmp_path_factory):
    from hat.fairseq_plugin.fitness import InheritedLoss

    supernet = trained_supernet(tmp_path_factory) / "checkpoint_best.pt"
    return InheritedLoss(demo_task, supernet, corpus_dir(tmp_path_factory))


def fairseq_valid_loss(task, data, model_path) -> float:
    """The loss fairseq's Trainer.valid_step reports for a dense model over the whole valid split."""
    from fairseq import options, tasks
    from fairseq.logging import metrics
    from fairseq.trainer import Trainer

    from hat.fairseq_plugin.runtime import parse, task_argv
    from hat.train import fairseq_options, training_settings

    argv = task_argv(task, data) + ["--arch", "hat_transformer", "--cpu", "--max-tokens-valid", "512"]
    argv += ["--hat-init-model", str(model_path)]  # a dense SubTransformer: its config with it
    cfg = parse(options.get_training_parser(), argv + fairseq_options(training_settings(task, {}, True)))
    fs_task = tasks.setup_task(cfg.task)
    fs_task.load_dataset("valid")
    trainer = Trainer(cfg, fs_task, fs_task.build_model(cfg.model), fs_task.build_criterion(cfg.criterion))
    with metrics.aggregate(new_root=True) as aggregate:  # as fairseq_cli.train.validate
        for sample in trainer.get_valid_iterator("valid").next_epoch_itr(shuffle=False):
            trainer.valid_step(sample)
    return float(aggregate["subtransformer_loss"].avg)  # token-weighted, unrounded


def test_inherited_loss_of_largest_equals_fairseq_validation_of_export(
    demo_task, inherited_loss, tmp_path_factory, tmp_path
):
    supernet, _ = load_supernet(trained_supernet(tmp_path_factory) / "checkpoint_best.pt")
    largest = demo_task.space.largest(arbitrary=1)
    save_model(export_subtransformer(supernet, largest), tmp_path / "largest.pt")
    expected = fairseq_valid_loss(demo_task, corpus_dir(tmp_path_factory), tmp_path / "largest.pt")
    assert inherited_loss.loss(largest) == pytest.approx(expected, rel=1e-5)


def test_losses_reuse_batches_and_match_training_log(demo_task, inherited_loss, tmp_path_factory):
    from hat.io import load_checkpoint

    configs = [demo_task.space.largest(1), demo_task.space.smallest(1), demo_task.space.largest(1)]
    losses = inherited_loss(configs)
    assert losses[0] == losses[2] != losses[1]
    best = load_checkpoint(trained_supernet(tmp_path_factory) / "checkpoint_best.pt")
    assert losses[1] == pytest.approx(best["extra_state"]["best"], abs=6e-4)  # fairseq logs round to 3 places


def test_max_batches_scores_a_fixed_prefix(demo_task, tmp_path_factory):
    from hat.fairseq_plugin.fitness import InheritedLoss

    supernet = trained_supernet(tmp_path_factory) / "checkpoint_best.pt"
    full = InheritedLoss(demo_task, supernet, corpus_dir(tmp_path_factory), max_tokens=128)
    one = InheritedLoss(demo_task, supernet, corpus_dir(tmp_path_factory), max_tokens=128, max_batches=1)
    assert len(one.batches) == 1 < len(full.batches)
    full.batches = full.batches[:1]
    assert one.loss(demo_task.space.smallest(1)) == full.loss(demo_task.space.smallest(1))


def test_config_outside_space_is_rejected(demo_task, inherited_loss):
    bad = dataclasses.replace(demo_task.space.largest(1), encoder_embed_dim=64)
    with pytest.raises(HatError, match="encoder-embed-dim"):
        inherited_loss.loss(bad)


def test_cli_prints_loss(demo_task, inherited_loss, tmp_path_factory, tmp_path, capsys):
    from hat.cli import main

    write_subconfig(demo_task.space.smallest(1), tmp_path / "smallest.yml")
    supernet = trained_supernet(tmp_path_factory) / "checkpoint_best.pt"
    data = corpus_dir(tmp_path_factory)
    args = ["inherited-loss", "--task", "demo", "--supernet", str(supernet), "--data", str(data)]
    assert main(args + ["--config", str(tmp_path / "smallest.yml")]) == 0
    assert float(capsys.readouterr().out) == pytest.approx(inherited_loss.loss(demo_task.space.smallest(1)), abs=1e-6)
