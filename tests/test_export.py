"""Exported SubTransformers: same outputs, only their own weights, safe checkpoints."""

import random

import pytest
import torch

from hat.cli import main
from hat.errors import HatError
from hat.export import (
    count_model_parameters,
    export_subtransformer,
    load_model,
    load_supernet,
    save_model,
)
from hat.profile import count_params
from hat.space import SubConfig, write_subconfig
from hat.supernet import SuperTransformer
from hat.tasks import load_task

V = 50


def configs(space):
    return (
        [space.largest(a) for a in (-1, 1, 2)]
        + [space.smallest(a) for a in (-1, 1, 2)]
        + [space.sample(random.Random(seed)) for seed in range(6)]
    )


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, V, (4, 11), generator=g)
    src[1, :4] = 1
    return src, torch.randint(4, V, (4, 8), generator=g)


@pytest.mark.parametrize("task", ["demo", "iwslt14deen"])
def test_export_equals_supernet_and_holds_only_its_weights(task):
    space = load_task(task).space
    torch.manual_seed(0)
    supernet = SuperTransformer(space, V, V if space.share_all_embeddings else V + 3).eval()
    for index, config in enumerate(configs(space)):
        dense = export_subtransformer(supernet, config).eval()
        src, prev = inputs(index)
        supernet.set_sample_config(config)
        assert (supernet(src, None, prev) - dense(src, None, prev)).abs().max() <= 1e-5
        assert count_model_parameters(dense) == count_params(config, space.qkv_dim)


def test_export_with_different_encoder_and_decoder_widths():
    """WMT'19 models use e=640, d=512 with one shared embedding table."""
    space = load_task("wmt19ende").space
    torch.manual_seed(0)
    supernet = SuperTransformer(space, V, V).eval()
    config = SubConfig(640, 512, 6, 1, (1024,) * 6, (4,) * 6, (1024,), (8,), (4,), (1,))
    dense = export_subtransformer(supernet, config).eval()
    assert dense.encoder.embed_tokens.weight.shape == (V, 640)
    assert dense.decoder.layers[0].encoder_attn.kv_proj_weight.shape == (1024, 640)
    assert dense.decoder.layers[0].encoder_attn.q_proj_weight.shape == (512, 512)
    src, prev = inputs()
    supernet.set_sample_config(config)
    assert (supernet(src, None, prev) - dense(src, None, prev)).abs().max() <= 1e-5
    assert count_model_parameters(dense) == count_params(config, 512)


def test_saved_model_reloads_identically(tmp_path):
    space = load_task("demo").space
    supernet = SuperTransformer(space, V, V).eval()
    config = space.sample(random.Random(1))
    dense = export_subtransformer(supernet, config).eval()
    save_model(dense, tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")
    src, prev = inputs()
    assert loaded.config == config
    assert torch.equal(loaded(src, None, prev), dense(src, None, prev))


def test_foreign_and_corrupt_files_are_clear_errors(tmp_path, capfd):
    class Payload:
        def __reduce__(self):
            return (print, ("executed!",))

    import pickle

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(Payload()))
    torch.save({"state": torch.zeros(1)}, tmp_path / "foreign.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"\x00garbage")
    for name, message in [
        ("evil.pt", "not a loadable HAT checkpoint"),
        ("corrupt.pt", "not a loadable HAT checkpoint"),
        ("foreign.pt", "not a HAT model checkpoint"),
        ("missing.pt", "checkpoint not found"),
    ]:
        with pytest.raises(HatError, match=message):
            load_model(tmp_path / name)
    assert "executed!" not in capfd.readouterr().out


def test_cli_export_writes_a_small_standalone_model(tmp_path, capsys):
    space = load_task("demo").space
    supernet = SuperTransformer(space, V, V)
    save_model(supernet, tmp_path / "super.pt", space=space, task="demo")
    config = space.smallest()
    write_subconfig(config, tmp_path / "sub.yml")
    assert load_supernet(tmp_path / "super.pt")[1] == space
    assert (
        main(
            [
                "export",
                "--supernet",
                str(tmp_path / "super.pt"),
                "--config",
                str(tmp_path / "sub.yml"),
                "--out",
                str(tmp_path / "dense.pt"),
            ]
        )
        == 0
    )
    dense = load_model(tmp_path / "dense.pt")
    assert dense.config == config
    assert count_model_parameters(dense) == count_params(config, space.qkv_dim)
    assert (tmp_path / "dense.pt").stat().st_size < (tmp_path / "super.pt").stat().st_size / 2
