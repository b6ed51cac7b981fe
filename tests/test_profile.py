"""#Params and FLOPs: HAT's published figures, and the formulas proven against torchprofile."""

import json
import random
import warnings
from pathlib import Path

import pytest
import torch

from hat.cli import main
from hat.profile import count_flops, count_macs, count_params
from hat.space import SubConfig, read_subconfig, write_subconfig
from hat.supernet import SuperTransformer
from hat.tasks import load_task

FIXTURES = Path(__file__).parent / "fixtures" / "hat_configs"
RPI_35 = FIXTURES / "HAT_wmt14ende_raspberrypi@3.5s_bleu@25.8.yml"


def test_hat_published_example_via_cli(capsys):
    assert main(["profile", str(RPI_35), "--task", "wmt14ende"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["params"] == 25_217_536  # published 25.22 M
    assert round(report["flops"] / 1e9, 2) == 1.53  # published 1.53 G
    assert SubConfig.from_hat_dict(report["subtransformer"]) == read_subconfig(RPI_35)  # what the summary tabulates


def test_whole_space_reference_values():
    wmt, iwslt = load_task("wmt14ende").space, load_task("iwslt14deen").space
    assert count_params(wmt.full_config(), 512) == 70_900_992
    assert count_params(iwslt.full_config(), 512) == 55_160_064
    assert round(count_flops(wmt.full_config(), 512, 30) / 1e9, 2) == 4.28
    assert round(count_flops(wmt.largest(arbitrary=2), 512, 30) / 1e9, 2) == 4.78
    assert round(count_flops(wmt.smallest(arbitrary=-1), 512, 30) / 1e9, 2) == 0.96
    assert round(count_flops(iwslt.full_config(), 512, 23) / 1e9, 2) == 2.55
    assert round(count_flops(iwslt.smallest(arbitrary=-1), 512, 23) / 1e9, 2) == 0.56


def test_transformer_base_shape():
    space = load_task("wmt14ende").space
    base = space.full_config().__class__(
        512, 512, 6, 6, (2048,) * 6, (8,) * 6, (2048,) * 6, (8,) * 6, (8,) * 6, (-1,) * 6
    )
    assert round(count_params(base, 512) / 1e6, 2) == 44.14
    assert round(count_flops(base, 512, 30) / 1e9, 2) == 2.68


@pytest.mark.parametrize("task", ["wmt14ende", "iwslt14deen"])
def test_formula_equals_torchprofile_trace_of_the_model(task):
    torchprofile = pytest.importorskip("torchprofile")
    t = load_task(task)
    space, L, V = t.space, t.sentence_length, 64
    model = SuperTransformer(space, V, V if space.share_all_embeddings else V + 1)
    configs = [read_subconfig(RPI_35)] if task == "wmt14ende" else []
    configs += [space.largest(2), space.smallest(1), space.sample(random.Random(5))]
    src = torch.tensor([[2] + [7] * (L - 1)])
    prev = torch.tensor([[7] * (L - 1) + [2]])
    for config in configs:
        model.set_sample_config(config)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchprofile: "No handlers found" for shape ops
            traced = torchprofile.profile_macs(model, (src, torch.tensor([L]), prev))
        output_layer = L * config.decoder_embed_dim * model.vocab_sizes[1]
        assert traced - output_layer == count_macs(config, space.qkv_dim, L)


def test_cli_measures_latency_on_request(tmp_path, capsys):
    config = tmp_path / "smallest.yml"
    write_subconfig(load_task("demo").space.smallest(), config)
    argv = ["profile", str(config), "--task", "demo", "--measure-latency", "cpu", "--measure-threads", "1",
            "--vocab-size", "512"]  # fmt: skip
    assert main([*argv, "--runs", "10"]) == 0
    report = json.loads(capsys.readouterr().out)
    latency = report["latency"]
    assert latency["total_ms"] == latency["encoder_ms"] + latency["decoder_ms"] > 0
    assert latency["beam"] == 5 and latency["sentence_length"] == 30 and latency["vocab_size"] == 512
    assert latency["environment"]["threads"] == 1 and latency["runs"] == 10


# ---- the shipped model: `hat profile --checkpoint` times the trained checkpoint itself -------


def shipped_checkpoint(path: Path, config, vocab: int) -> Path:
    """A dense demo SubTransformer checkpoint as `hat train subtransformer` writes one."""
    from hat.export import export_subtransformer, save_model

    task = load_task("demo")
    torch.manual_seed(0)
    supernet = SuperTransformer(task.space, vocab, vocab, padding_idx=1)
    save_model(export_subtransformer(supernet, config), path, task=task.name)
    return path


def smallest_shipped(tmp_path: Path) -> tuple[Path, Path]:
    """The demo space's smallest SubTransformer: its YAML and its shipped checkpoint (vocabulary 512)."""
    config = load_task("demo").space.smallest()
    config_path = tmp_path / "sub.yml"
    write_subconfig(config, config_path)
    return config_path, shipped_checkpoint(tmp_path / "checkpoint.pt", config, vocab=512)


def profile_checkpoint(config_path: Path, checkpoint: Path, capsys, *extra: str) -> dict:
    argv = ["profile", str(config_path), "--task", "demo", "--checkpoint", str(checkpoint), "--measure-latency", "cpu"]
    assert main([*argv, "--measure-threads", "1", "--runs", "10", "--warmup", "2", *extra]) == 0
    return json.loads(capsys.readouterr().out)["latency"]


def test_profile_times_the_checkpoint_itself_at_its_vocabulary(tmp_path, capsys):
    config = load_task("demo").space.largest()
    config_path = tmp_path / "sub.yml"
    write_subconfig(config, config_path)
    small = shipped_checkpoint(tmp_path / "small_vocab.pt", config, vocab=512)
    large = shipped_checkpoint(tmp_path / "large_vocab.pt", config, vocab=40_000)
    small_latency = profile_checkpoint(config_path, small, capsys)
    large_latency = profile_checkpoint(config_path, large, capsys)
    assert (small_latency["model"], small_latency["vocab_size"]) == (str(small), 512)
    assert (large_latency["model"], large_latency["vocab_size"]) == (str(large), 40_000)
    # 30 decoder steps × beam 5 × d × |V|: 78x more output-projection work is plainly slower
    assert large_latency["decoder_ms"] > 1.5 * small_latency["decoder_ms"]


def test_profile_refuses_a_checkpoint_of_another_subtransformer(tmp_path, capsys):
    space = load_task("demo").space
    config_path = tmp_path / "sub.yml"
    write_subconfig(space.smallest(), config_path)
    other = shipped_checkpoint(tmp_path / "other.pt", space.largest(), vocab=512)
    argv = ["profile", str(config_path), "--task", "demo", "--checkpoint", str(other), "--measure-latency", "cpu"]
    assert main(argv) == 2
    assert f"{other}: its SubTransformer is not the one in {config_path}" in capsys.readouterr().err


def test_profile_json_reports_the_shipped_checkpoint(tmp_path, capsys, monkeypatch):
    """What the workflow's profile rule does: `hat profile --checkpoint | hat report profile`."""
    import io
    import sys

    config_path, checkpoint = smallest_shipped(tmp_path)
    shipped = profile_checkpoint(config_path, checkpoint, capsys)
    profile = {"config": str(config_path), "params": 1, "latency": shipped}
    search = tmp_path / "subtransformer.json"
    budget = shipped["total_ms"] * 2
    search.write_text(json.dumps({"hardware": "cpu", "latency_budget_ms": budget, "predicted_latency_ms": 1.0}))
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(profile)))
    out = tmp_path / "profile.json"
    assert main(["report", "profile", "--search", str(search), "--out", str(out)]) == 0
    merged = json.loads(out.read_text())
    assert merged["measured"]["model"] == str(checkpoint) and merged["measured"]["runs"] == 10
    assert merged["measured_latency_ms"] == shipped["total_ms"] and merged["budget_met"] is True


def _recorded_dataset(tmp_path, vocab: int) -> Path:
    csv = tmp_path / "cpu.csv"
    argv = ["latency", "dataset", "--task", "demo", "--vocab-size", str(vocab), "--samples", "2", "--runs", "2"]
    assert main([*argv, "--warmup", "0", "--threads", "1", "--no-progress", "--out", str(csv)]) == 0
    return csv


def test_profile_in_the_latency_datasets_state_divides_out_a_slower_device(tmp_path, capsys, monkeypatch):
    """Paired with the dataset's reference runs, the shipped model is expressed in the state the
    dataset (and its predictor) were recorded in: a device twice as slow while profiling shows as a
    state factor of ~2, not as a model twice as slow."""
    config_path, checkpoint = smallest_shipped(tmp_path)
    csv = _recorded_dataset(tmp_path, vocab=512)
    capsys.readouterr()
    same_device = profile_checkpoint(config_path, checkpoint, capsys, "--latency-dataset", str(csv))
    monkeypatch.setenv("HAT_TIMER_SCALE", "2")  # the device is now twice as slow
    slower_device = profile_checkpoint(config_path, checkpoint, capsys, "--latency-dataset", str(csv))
    state = slower_device["state"]
    sidecar = json.loads((tmp_path / "cpu.env.json").read_text())
    assert state["latency_dataset"] == str(csv) and state["baseline_ms"] == sidecar["drift_guard"]["baseline_ms"]
    # a 2x timer: seen as the state's (the bounds leave room for a loaded CI machine), divided out of the model's
    assert 1.3 < state["factor"] / same_device["state"]["factor"] < 3.5
    assert 0.6 < slower_device["total_ms"] / same_device["total_ms"] < 1.7
    assert state["as_measured_ms"] == pytest.approx(slower_device["total_ms"] * state["factor"])
    assert slower_device["runs"] == 10 and slower_device["vocab_size"] == 512 and slower_device["timer_scale"] == 2.0


def test_profile_refuses_a_latency_dataset_of_another_vocabulary(tmp_path, capsys):
    config_path, checkpoint = smallest_shipped(tmp_path)
    csv = _recorded_dataset(tmp_path, vocab=64)
    capsys.readouterr()
    argv = ["profile", str(config_path), "--task", "demo", "--checkpoint", str(checkpoint), "--measure-latency", "cpu"]
    assert main([*argv, "--latency-dataset", str(csv)]) == 2
    error = capsys.readouterr().err.strip()
    assert f"{csv}: recorded with" in error and "vocab_size 512" in error and "\n" not in error
