"""SuperTransformer / SubTransformer training through fairseq (hat.train, hat.fairseq_plugin)."""

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from fixtures_train import FAST_TRAINING, corpus_dir, trained_supernet

from hat.errors import HatError
from hat.io import load_checkpoint
from hat.space import SubConfig, write_subconfig
from hat.tasks import load_task

REPO = Path(__file__).resolve().parents[1]
HAT_MAIN = "import sys; from hat.cli import main; sys.exit(main(sys.argv[1:]))"


def read_sample_log(path: Path) -> list[tuple[int, SubConfig]]:
    return [
        (entry["update"], SubConfig.from_hat_dict(entry["config"]))
        for entry in map(json.loads, path.read_text().splitlines())
    ]


def test_config_for_update_is_hats_seeded_draw(demo_task):
    from hat.fairseq_plugin.task import config_for_update

    configs = [config_for_update(demo_task.space, n) for n in range(20)]
    assert configs == [demo_task.space.sample(random.Random(n)) for n in range(20)]
    assert len(set(configs)) > 10  # the sequence actually varies between updates


def test_settings_map_hat_keys_to_fairseq(demo_task):
    from hat.train import fairseq_options, parse_overrides, training_settings

    wmt = load_task("wmt14ende")
    argv = fairseq_options(training_settings(wmt, parse_overrides(["--update-freq=2"]), subtransformer=False))
    value = {key: argv[argv.index(key) + 1] for key in ("--lr", "--min-lr")}
    assert float(value["--lr"]) == 1e-3 and float(value["--min-lr"]) == 1e-7  # HAT's cosine max-lr / lr
    assert "--fp16" in argv and argv[argv.index("--update-freq") + 1] == "2"
    assert "--encoder-embed-dim" not in argv and "--arch" not in argv  # space keys are not fairseq's
    sub = fairseq_options(training_settings(wmt, {}, subtransformer=True))
    assert sub[sub.index("--warmup-updates") + 1] == "4000"  # spec §6.1
    assert "--fp16" not in fairseq_options(training_settings(demo_task, {}, subtransformer=False))
    with pytest.raises(HatError, match="max-update"):
        parse_overrides(["max-update"])


def test_unknown_override_is_a_hat_error(demo_task, tmp_path_factory, tmp_path):
    from hat.train import train_supernet

    with pytest.raises(HatError, match="--no-such-option"):
        train_supernet(demo_task, corpus_dir(tmp_path_factory), tmp_path, {"no-such-option": "1"}, cpu=True)


def test_supernet_loss_falls_and_checkpoints_are_plain(demo_task, tmp_path_factory):
    save_dir = trained_supernet(tmp_path_factory)
    first, second = (load_checkpoint(save_dir / f"checkpoint{epoch}.pt") for epoch in (1, 2))
    assert second["extra_state"]["val_loss"] < first["extra_state"]["val_loss"] - 0.1
    best = load_checkpoint(save_dir / "checkpoint_best.pt")  # weights_only=True
    assert best["hat"]["task"] == "demo" and best["hat"]["config"] is None
    assert set(best["model"]) == set(core_keys(demo_task, corpus_dir(tmp_path_factory)))  # the core's own key names
    from hat.export import load_supernet

    model, space = load_supernet(save_dir / "checkpoint_best.pt")
    assert space.to_hat_dict() == demo_task.space.to_hat_dict()
    name = "encoder.layers.0.ffn.fc1.weight"
    assert torch.equal(model.state_dict()[name], best["model"][name])


def core_keys(task, data: Path):
    from fairseq.data import Dictionary

    from hat.supernet import SuperTransformer

    vocab = len(Dictionary.load(str(data / "dict.src.txt")))
    return SuperTransformer(task.space, vocab, vocab).state_dict().keys()


def test_sampled_sequence_identical_across_runs_and_resume(demo_task, tmp_path_factory, tmp_path):
    from hat.train import train_supernet

    data = corpus_dir(tmp_path_factory)
    logs = {}
    for name, stops in (("straight", [4]), ("resumed", [2, 4])):
        log = tmp_path / f"{name}.jsonl"
        for max_update in stops:
            settings = {**FAST_TRAINING, "max-update": str(max_update), "hat-sample-log": str(log)}
            result = train_supernet(demo_task, data, tmp_path / name, settings, cpu=True)
        assert result.num_updates == 4
        logs[name] = read_sample_log(log)
    expected = [(n, demo_task.space.sample(random.Random(n))) for n in range(4)]
    assert logs["straight"] == expected
    assert logs["resumed"] == expected  # no update trained twice, none skipped


def test_torn_last_checkpoint_is_replaced_before_resume(tmp_path):
    from hat.train import repair_last_checkpoint

    good = {"model": {"w": torch.ones(3)}, "optimizer_history": [{"num_updates": 4}]}
    torch.save(good, tmp_path / "checkpoint2.pt")
    torch.save(good, tmp_path / "checkpoint_last.pt")
    whole = (tmp_path / "checkpoint_last.pt").read_bytes()
    (tmp_path / "checkpoint_last.pt").write_bytes(whole[: len(whole) // 2])  # killed mid-copy
    repair_last_checkpoint(tmp_path)
    assert torch.equal(load_checkpoint(tmp_path / "checkpoint_last.pt")["model"]["w"], torch.ones(3))


def test_sigkill_then_rerun_resumes(demo_task, tmp_path_factory, tmp_path):
    data = corpus_dir(tmp_path_factory)
    log = tmp_path / "samples.jsonl"
    command = [sys.executable, "-c", HAT_MAIN, "train", "supernet", "--task", "demo", "--data", str(data),
               "--save-dir", str(tmp_path / "run"), "--device", "cpu", "--threads", "1"]  # fmt: skip
    command += [f"--override={k}={v}" for k, v in FAST_TRAINING.items()]
    command += ["--override=max-update=12", "--override=save-interval-updates=2", f"--override=hat-sample-log={log}"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    output = open(tmp_path / "train.log", "w")
    first = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    last = tmp_path / "run" / "checkpoint_last.pt"
    deadline = time.time() + 600
    while first.poll() is None and not (last.exists() and len(log.read_text().splitlines()) >= 6):
        assert time.time() < deadline
        time.sleep(0.02)
    assert first.poll() is None, (tmp_path / "train.log").read_text()[-2000:]
    first.send_signal(signal.SIGKILL)
    first.wait()
    saved = load_checkpoint(last)["optimizer_history"][-1]["num_updates"]
    assert 2 <= saved < 12
    subprocess.run(command, env=env, check=True, stdout=output, stderr=subprocess.STDOUT)
    output.close()
    updates = [update for update, _ in read_sample_log(log)]
    resumed_from = updates.index(saved, updates.index(saved) + 1)  # the rerun's first update
    assert updates[resumed_from:] == list(range(saved, 12))
    assert load_checkpoint(last)["optimizer_history"][-1]["num_updates"] == 12


def test_subtransformer_inherit_and_average(demo_task, tmp_path_factory, tmp_path):
    from hat.export import load_model, load_supernet
    from hat.train import train_subtransformer

    supernet = trained_supernet(tmp_path_factory) / "checkpoint_best.pt"
    config = demo_task.space.smallest(arbitrary=1)
    write_subconfig(config, tmp_path / "sub.yml")
    result = train_subtransformer(
        demo_task, tmp_path / "sub.yml", corpus_dir(tmp_path_factory), tmp_path / "train", init="inherit",
        supernet=supernet, average_last=2, overrides={**FAST_TRAINING, "max-update": "10"}, cpu=True,
    )  # fmt: skip
    assert result.num_updates == 10
    model = load_model(result.checkpoint)
    assert model.config == config
    sources = [load_checkpoint(tmp_path / "train" / f"checkpoint{e}.pt")["model"] for e in (1, 2)]
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, (sources[0][name] + sources[1][name]) / 2)
    inherited = load_model(tmp_path / "train" / "init_model.pt").state_dict()
    super_fc1 = load_supernet(supernet)[0].state_dict()["decoder.layers.0.ffn.fc1.weight"]
    assert torch.equal(
        inherited["decoder.layers.0.ffn.fc1.weight"],
        super_fc1[: config.decoder_ffn_embed_dim[0], : config.decoder_embed_dim],
    )


def test_subtransformer_from_scratch_starts_from_a_sliced_fresh_supernet(demo_task, tmp_path_factory, tmp_path):
    """HAT's from-scratch init (spec §1.6, §6.1): super-shape init with the run's seed, then sliced."""
    from fairseq.data import Dictionary

    from hat.export import export_subtransformer, load_model
    from hat.supernet import SuperTransformer
    from hat.train import train_subtransformer

    data = corpus_dir(tmp_path_factory)
    config = demo_task.space.smallest(arbitrary=1)
    write_subconfig(config, tmp_path / "sub.yml")
    overrides = {**FAST_TRAINING, "max-update": "1", "seed": "7"}
    train_subtransformer(
        demo_task, tmp_path / "sub.yml", data, tmp_path / "train", init="scratch", overrides=overrides, cpu=True
    )
    vocab = len(Dictionary.load(str(data / "dict.src.txt")))
    torch.manual_seed(7)
    expected = export_subtransformer(SuperTransformer(demo_task.space, vocab, vocab), config).state_dict()
    initial = load_model(tmp_path / "train" / "init_model.pt").state_dict()
    assert initial.keys() == expected.keys()
    assert all(torch.equal(initial[name], expected[name]) for name in expected)


def test_rerun_with_another_subtransformer_starts_over_and_the_same_one_resumes(
    demo_task, tmp_path_factory, tmp_path, caplog
):
    """The workflow trains every searched SubTransformer in the same save dir: a new search result
    must not resume (or crash on) the previous config's checkpoints; a rerun of the same must."""
    from hat.export import load_model
    from hat.train import RUN_FILE, train_subtransformer

    supernet = trained_supernet(tmp_path_factory) / "checkpoint_best.pt"
    data, save_dir, sub = corpus_dir(tmp_path_factory), tmp_path / "train", tmp_path / "sub.yml"

    def train(config: SubConfig, max_update: int):
        write_subconfig(config, sub)
        overrides = {**FAST_TRAINING, "max-update": str(max_update)}
        return train_subtransformer(demo_task, sub, data, save_dir, init="inherit", supernet=supernet,
                                    overrides=overrides, cpu=True)  # fmt: skip

    caplog.set_level(logging.INFO)
    small, large = demo_task.space.smallest(arbitrary=1), demo_task.space.largest(arbitrary=1)
    assert train(small, 4).num_updates == 4
    caplog.clear()
    result = train(large, 4)  # another config, same save dir: fresh, not a size-mismatch crash
    assert result.num_updates == 4 and load_model(result.checkpoint).config == large
    assert "checkpoint(s) of another run (changed: subtransformer); starting over" in caplog.text
    assert json.loads((save_dir / RUN_FILE).read_text())["subtransformer"] == large.to_hat_dict()
    caplog.clear()
    assert train(large, 6).num_updates == 6  # same run, longer: resumes from update 4
    assert "starting over" not in caplog.text and "@ 4 updates)" in caplog.text


def test_claim_save_dir_keeps_same_run_and_legacy_checkpoints(tmp_path):
    from hat.train import RUN_FILE, claim_save_dir, data_fingerprint

    checkpoint = tmp_path / "checkpoint_last.pt"
    checkpoint.write_bytes(b"x")
    claim_save_dir(tmp_path, {"task": "demo", "space": (1, 2)})  # no run.json yet: kept, adopted
    assert checkpoint.exists() and json.loads((tmp_path / RUN_FILE).read_text()) == {"task": "demo", "space": [1, 2]}
    claim_save_dir(tmp_path, {"task": "demo", "space": (1, 2)})
    assert checkpoint.exists()
    claim_save_dir(tmp_path, {"task": "demo", "space": (1, 3)})
    assert not checkpoint.exists()

    data = tmp_path / "data"
    data.mkdir()
    (data / "dict.src.txt").write_text("a 1\n")
    (data / "train.bin").write_bytes(b"12")
    before = data_fingerprint(data)
    (data / "dict.src.txt").write_text("b 1\n")  # same size, other words
    assert data_fingerprint(data) != before
    (data / "dict.src.txt").write_text("a 1\n")
    assert data_fingerprint(data) == before
    (data / "preprocess.log").write_text("not read by training")
    assert data_fingerprint(data) == before
    (data / "train.bin").write_bytes(b"123")
    assert data_fingerprint(data) != before
