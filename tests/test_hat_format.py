"""HAT's checkpoint format (hat.interop.hat_format): safe loading, HAT's exact layout both ways,
import to our supernet / dense SubTransformer, `hat export --format hat`, `hat evaluate` on it.

The expected layouts of HAT's four SuperTransformers are test data derived from HAT's source
(tests/fixtures/hat_state_dicts/derive.py, which also builds HAT-format files for other spaces)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
from pathlib import Path

import pytest
import torch
from fixtures_train import corpus_dir

from hat.cli import main
from hat.errors import HatError
from hat.export import load_model, save_model
from hat.interop.hat_format import read_hat_file, save_hat_checkpoint, supernet_from_hat, to_hat_state
from hat.space import read_hat_yaml, write_subconfig
from hat.supernet import SuperTransformer
from hat.tasks import load_task

FIXTURES = Path(__file__).parent / "fixtures"
LAYOUTS = FIXTURES / "hat_state_dicts"
SPACES = {"wmt14ende": "wmt14ende_space0", "wmt14enfr": "wmt14enfr_space0", "wmt19ende": "wmt19ende_space0",
          "iwslt14deen": "iwslt14deen_space1"}  # fmt: skip
VOCAB = {"V": 48, "V_src": 48, "V_tgt": 40}


def _derive():
    spec = importlib.util.spec_from_file_location("hat_layout_derive", LAYOUTS / "derive.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_layout(space_file: str) -> list[tuple[str, list[int]]]:
    keys = json.loads((LAYOUTS / f"{space_file}.json").read_text())["keys"]
    return [(key, [VOCAB.get(size, size) for size in shape]) for key, shape in keys]


def logits(model: SuperTransformer, config, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    src_vocab, tgt_vocab = model.vocab_sizes
    src = torch.randint(4, src_vocab, (2, 7), generator=generator)
    prev = torch.randint(4, tgt_vocab, (2, 5), generator=generator)
    src[1, :2] = model.padding_idx  # left padding, as fairseq batches sources
    model.set_sample_config(config)
    with torch.no_grad():
        return model.eval()(src, None, prev)


def hat_namespace(task, **extra) -> argparse.Namespace:
    """The Namespace HAT's train.py saves: its YAML's keys with underscores (written here from
    HAT's configs, independently of hat_format.hat_args)."""
    values = {key.replace("-", "_"): value for key, value in read_hat_yaml(task.supertransformer_path).items()}
    return argparse.Namespace(
        **{**values, "encoder_normalize_before": False, "decoder_normalize_before": False, **extra}
    )


def build_hat_file(
    task, path: Path, vocab: dict[str, int], seed: int = 0, dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """A checkpoint in HAT's format for `task`'s space, built from HAT's layout (derive.py), not
    from our exporter: random super-width tensors, HAT's names, fairseq 0.8's dict. HAT's WMT
    models trained with --fp16 store half-precision weights (`dtype`)."""
    space = task.space
    layout = _derive().keys(
        dict(embed=space.encoder_embed_dim, ffn=space.encoder_ffn_embed_dim, encoder_layers=space.encoder_layers,
             decoder_layers=space.decoder_layers, qkv=space.qkv_dim, share_all=space.share_all_embeddings)
    )  # fmt: skip
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, shape in layout:
        shape = [vocab.get(size, size) for size in shape]
        if key.endswith(".version"):
            state[key] = torch.tensor([3.0])
        elif key == "decoder.embed_tokens.weight" and space.share_all_embeddings:
            state[key] = state["encoder.embed_tokens.weight"]  # one EmbeddingSuper, listed twice
        else:
            state[key] = (torch.randn(shape, generator=generator) * 0.1).to(dtype)
    checkpoint = {"args": hat_namespace(task, dropout=0.3, attention_dropout=0.1), "model": state,
                  "optimizer_history": [{"num_updates": 40000}], "extra_state": {"val_loss": 3.9}}  # fmt: skip
    torch.save(checkpoint, path)
    return state


@pytest.mark.slow
@pytest.mark.parametrize("task_name", list(SPACES))
def test_round_trip_has_hats_exact_layout_and_identical_tensors_and_logits(task_name, tmp_path):
    task = load_task(task_name)
    torch.manual_seed(0)
    vocab = (VOCAB["V"], VOCAB["V"]) if task.space.share_all_embeddings else (VOCAB["V_src"], VOCAB["V_tgt"])
    ours = SuperTransformer(task.space, *vocab, dropout=0.3, attention_dropout=0.1)
    hat_state = to_hat_state(ours)
    assert [(key, list(t.shape)) for key, t in hat_state.items()] == expected_layout(SPACES[task_name])

    save_hat_checkpoint(ours, task.space, tmp_path / "hat.pt")
    back = supernet_from_hat(tmp_path / "hat.pt", task.space, task.training_defaults)
    original, restored = ours.state_dict(), back.state_dict()
    assert list(original) == list(restored)
    assert all(torch.equal(original[key], restored[key]) for key in original)
    config = task.space.sample(random.Random(1))
    assert torch.equal(logits(ours, config), logits(back, config))


def test_fused_cross_attention_rows_are_q_then_k_then_v(tmp_path):
    """HAT's in_proj_q/k/v take rows [0:qkv], [qkv:2qkv], [2qkv:] of the fused matrix."""
    task = load_task("demo")
    state = build_hat_file(task, tmp_path / "hat.pt", {"V": 40})
    model = supernet_from_hat(tmp_path / "hat.pt", task.space, task.training_defaults)
    qkv = task.space.qkv_dim
    attention = model.decoder.layers[1].encoder_attn
    fused = state["decoder.layers.1.encoder_attn.in_proj_weight"]
    assert torch.equal(attention.q_proj_weight, fused[:qkv])
    assert torch.equal(attention.kv_proj_weight[:qkv], fused[qkv : 2 * qkv])
    assert torch.equal(attention.kv_proj_weight[qkv:], fused[2 * qkv :])
    assert torch.equal(model.encoder.layers[2].ffn.fc2.weight, state["encoder.layers.2.fc2.weight"])
    assert model.dropout == 0.3 and model.attention_dropout == 0.1  # from the file's args


def test_hat_file_imports_as_supernet_and_as_dense_subtransformer_with_the_same_logits(tmp_path):
    task = load_task("demo")
    hat_file = tmp_path / "HAT_demo_super.pt"
    build_hat_file(task, hat_file, {"V": 40})
    config = task.space.sample(random.Random(3))
    write_subconfig(config, tmp_path / "sub.yml")

    assert main(["import", "hat-checkpoint", str(hat_file), "--task", "demo", "--out", str(tmp_path / "super.pt")]) == 0
    sub_args = ["--config", str(tmp_path / "sub.yml"), "--out", str(tmp_path / "dense.pt")]
    assert main(["import", "hat-checkpoint", str(hat_file), "--task", "demo", *sub_args]) == 0

    supernet = load_model(tmp_path / "super.pt")
    dense = load_model(tmp_path / "dense.pt")
    assert dense.config == config
    assert sum(p.numel() for p in dense.parameters()) < sum(p.numel() for p in supernet.parameters())
    assert torch.allclose(logits(dense, config), logits(supernet, config), atol=1e-5)
    provenance = torch.load(tmp_path / "dense.pt", weights_only=True)["imported_from"]
    from hat.io import sha256_file

    assert provenance["sha256"] == sha256_file(hat_file) and provenance["source"] == str(hat_file.resolve())
    assert provenance["format"] == "hat-fairseq-0.8" and provenance["config"] == str((tmp_path / "sub.yml").resolve())


def test_half_precision_file_imports_as_float32(tmp_path):
    task = load_task("demo")
    state = build_hat_file(task, tmp_path / "fp16.pt", {"V": 40}, dtype=torch.float16)
    model = supernet_from_hat(tmp_path / "fp16.pt", task.space, task.training_defaults)
    assert model.encoder.layers[0].ffn.fc1.weight.dtype == torch.float32
    assert torch.equal(model.encoder.layers[0].ffn.fc1.weight, state["encoder.layers.0.fc1.weight"].float())


def test_bare_state_dict_without_bookkeeping_buffers_imports(tmp_path):
    task = load_task("demo")
    state = build_hat_file(task, tmp_path / "full.pt", {"V": 40})
    bare = {k: v for k, v in state.items() if not k.endswith((".version", "._float_tensor"))}
    torch.save(bare, tmp_path / "bare.pt")
    model = supernet_from_hat(tmp_path / "bare.pt", task.space, task.training_defaults)
    assert torch.equal(model.encoder.embed_tokens.weight, state["encoder.embed_tokens.weight"])


class _Payload:
    """Unpickling this runs os.system (what a hostile checkpoint would carry)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("where", ["args", "model", "extra_state"])
def test_pickled_payload_is_refused_and_never_runs(where, tmp_path, capsys):
    task = load_task("demo")
    state = build_hat_file(task, tmp_path / "clean.pt", {"V": 40})
    marker = tmp_path / "payload-ran"
    checkpoint = {"args": hat_namespace(task), "model": dict(state), "optimizer_history": [], "extra_state": {}}
    if where == "args":
        checkpoint["args"].evil = _Payload(marker)
    elif where == "model":
        checkpoint["model"]["encoder.evil"] = _Payload(marker)
    else:
        checkpoint["extra_state"]["evil"] = _Payload(marker)
    torch.save(checkpoint, tmp_path / "evil.pt")

    out = tmp_path / "out.pt"
    assert main(["import", "hat-checkpoint", str(tmp_path / "evil.pt"), "--task", "demo", "--out", str(out)]) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith(f"hat: error: {tmp_path / 'evil.pt'}: refused to load") and "system" in message
    assert "\n" not in message
    assert not marker.exists() and not out.exists()
    with pytest.raises(HatError, match="refused to load"):
        read_hat_file(tmp_path / "evil.pt")
    assert not marker.exists()


def test_file_of_another_space_is_refused_naming_the_argument(tmp_path):
    demo = load_task("demo")
    build_hat_file(demo, tmp_path / "demo.pt", {"V": 40})
    with pytest.raises(HatError, match=r"args\.encoder_embed_dim is 128, task space 'iwslt14deen' has 640"):
        supernet_from_hat(tmp_path / "demo.pt", load_task("iwslt14deen").space, {})
    state, _ = read_hat_file(tmp_path / "demo.pt")
    state["encoder.layers.0.fc1.weight"] = state["encoder.layers.0.fc1.weight"][:100]
    torch.save(state, tmp_path / "cut.pt")
    with pytest.raises(HatError, match=r"'encoder.layers.0.fc1.weight' has shape \[100, 128\].*\[256, 128\]"):
        supernet_from_hat(tmp_path / "cut.pt", demo.space, {})


def test_unsupported_hat_option_is_refused(tmp_path):
    task = load_task("demo")
    state = build_hat_file(task, tmp_path / "hat.pt", {"V": 40})
    torch.save({"args": hat_namespace(task, vocab_original_scaling=True), "model": state}, tmp_path / "scaled.pt")
    with pytest.raises(HatError, match="args.vocab_original_scaling = True is not supported"):
        supernet_from_hat(tmp_path / "scaled.pt", task.space, {})


def test_export_format_hat_writes_hats_layout_with_namespace_args(tmp_path):
    task = load_task("demo")
    supernet = SuperTransformer(task.space, 40, 40)
    save_model(supernet, tmp_path / "super.pt", space=task.space, task="demo")
    config = task.space.smallest(1)
    write_subconfig(config, tmp_path / "sub.yml")
    args = [
        "export",
        "--format",
        "hat",
        "--supernet",
        str(tmp_path / "super.pt"),
        "--config",
        str(tmp_path / "sub.yml"),
    ]
    assert main([*args, "--out", str(tmp_path / "hat.pt")]) == 0
    state, namespace = read_hat_file(tmp_path / "hat.pt")
    layout = _derive().keys(dict(embed=128, ffn=256, encoder_layers=3, decoder_layers=3, qkv=128, share_all=True))
    assert [(k, list(t.shape)) for k, t in state.items()] == [
        (k, [40 if s == "V" else s for s in sh]) for k, sh in layout
    ]
    assert (namespace.encoder_embed_dim, namespace.qkv_dim, namespace.share_all_embeddings) == (128, 128, True)
    assert namespace.decoder_layer_num_subtransformer == config.decoder_layer_num and namespace.train_subtransformer


def test_evaluate_scores_a_hat_subtransformer_checkpoint_with_its_yaml(tmp_path_factory, tmp_path):
    """As HAT's test.sh: the HAT file plus its SubTransformer YAML, the task's beam and lenpen;
    and the dense SubTransformer imported from it."""
    from hat.evaluate import read_report

    task = load_task("demo")
    data = corpus_dir(tmp_path_factory)
    vocab = 4 + len((data / "dict.src.txt").read_text().splitlines())
    hat_file = tmp_path / "HAT_demo_sub.pt"
    build_hat_file(task, hat_file, {"V": vocab})
    write_subconfig(task.space.smallest(1), tmp_path / "sub.yml")
    common = ["--task", "demo", "--data", str(data)]
    direct = ["evaluate", *common, "--checkpoint", str(hat_file), "--config", str(tmp_path / "sub.yml")]
    assert main([*direct, "--out", str(tmp_path / "direct" / "bleu.txt")]) == 0
    imported = tmp_path / "dense.pt"
    to_dense = ["import", "hat-checkpoint", str(hat_file), *common, "--config", str(tmp_path / "sub.yml")]
    assert main([*to_dense, "--out", str(imported)]) == 0
    assert (
        main(["evaluate", *common, "--checkpoint", str(imported), "--out", str(tmp_path / "dense" / "bleu.txt")]) == 0
    )
    direct_report = read_report(tmp_path / "direct" / "bleu.txt")
    dense_report = read_report(tmp_path / "dense" / "bleu.txt")
    assert (direct_report["beam"], direct_report["lenpen"]) == ("4", "0.6")
    assert int(direct_report["sentences"]) == 20
    hypotheses = [(tmp_path / d / "bleu.hypotheses.txt").read_text() for d in ("direct", "dense")]
    assert hypotheses[0] == hypotheses[1] and direct_report["bleu"] == dense_report["bleu"]


def test_import_checks_the_data_dictionaries(tmp_path_factory, tmp_path):
    task = load_task("demo")
    data = corpus_dir(tmp_path_factory)
    build_hat_file(task, tmp_path / "hat.pt", {"V": 40})
    with pytest.raises(HatError, match=r"dict\.src\.txt: \d+ entries, the checkpoint's vocabulary has 40"):
        from hat.interop.hat_format import import_hat_checkpoint

        import_hat_checkpoint(tmp_path / "hat.pt", task, tmp_path / "out.pt", data_dir=data)


def test_export_refuses_a_space_hats_layout_cannot_hold(tmp_path):
    import dataclasses

    space = dataclasses.replace(load_task("demo").space, encoder_embed_dim=160, share_all_embeddings=False)
    with pytest.raises(HatError, match="needs encoder-embed-dim == decoder-embed-dim \\(here 160 / 128\\)"):
        save_hat_checkpoint(SuperTransformer(space, 40, 40), space, tmp_path / "hat.pt")
    assert not (tmp_path / "hat.pt").exists()


def test_evaluate_refuses_a_checkpoint_whose_vocabulary_is_not_the_datas(tmp_path_factory, tmp_path, capsys):
    task = load_task("demo")
    build_hat_file(task, tmp_path / "hat.pt", {"V": 40})
    write_subconfig(task.space.smallest(1), tmp_path / "sub.yml")
    args = ["evaluate", "--task", "demo", "--data", str(corpus_dir(tmp_path_factory)), "--out", str(tmp_path / "b.txt")]
    assert main([*args, "--checkpoint", str(tmp_path / "hat.pt"), "--config", str(tmp_path / "sub.yml")]) == 2
    assert (
        "entries (with 4 specials), but" in (err := capsys.readouterr().err) and "has 40 source embedding rows" in err
    )
