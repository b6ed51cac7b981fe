"""Deployment runtimes (issue #15): ONNX graphs equal PyTorch, ORT beam search equals `hat evaluate`,
int8 keeps BLEU, latency datasets and predictors know their runtime."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from fixtures_train import corpus_dir, trained_supernet  # noqa: E402
from test_export import V, configs  # noqa: E402

from hat.cli import main  # noqa: E402
from hat.errors import HatError  # noqa: E402
from hat.export import export_subtransformer  # noqa: E402
from hat.runtime.onnx_export import export_onnx, read_metadata  # noqa: E402
from hat.runtime.ort_model import OrtSubTransformer, reorder  # noqa: E402
from hat.supernet import SuperTransformer  # noqa: E402
from hat.tasks import load_task  # noqa: E402

TOLERANCE = 1e-4


def torch_step_logits(model, src, prev):
    """The eager model's incremental logits at every step of `prev`: [T, B, V]."""
    encoder_out = model.encoder(src)
    state: dict = {}
    return torch.stack([model.decoder(prev[:, : t + 1], encoder_out, state)[:, -1] for t in range(prev.size(1))])


def ort_step_logits(session, src, prev):
    encoded = session.encode(src.numpy())
    cache = session.empty_cache(src.size(0))
    steps = []
    for t in range(prev.size(1)):
        logits, cache = session.step(prev[:, t : t + 1].numpy(), encoded, cache)
        steps.append(logits)
    return torch.from_numpy(np.stack(steps))


def assert_onnx_equals_pytorch(supernet, config, directory):
    """Logits of every decoding step within 1e-4, with a left-padded source row, at other batch
    size and lengths than the graphs were traced with; the PyTorch model is unchanged by the export."""
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, V, (3, 9), generator=g)
    src[1, :4] = 1
    prev = torch.cat([torch.full((3, 1), 2), torch.randint(4, V, (3, 6), generator=g)], dim=1)
    dense = export_subtransformer(supernet, config).eval()
    export_onnx(dense, directory)
    assert not dense.training
    with torch.no_grad():
        expected = torch_step_logits(dense, src, prev)
    found = ort_step_logits(OrtSubTransformer(directory), src, prev)
    assert found.shape == expected.shape
    assert (found - expected).abs().max() <= TOLERANCE, config


@pytest.mark.slow
def test_onnx_export_of_the_export_configs_equals_pytorch(tmp_path):
    """The 12 configs of test_export (largest/smallest x 3 attention choices, 6 sampled; ~20 s each
    on the loaded 2-core VM, almost all of it torch.onnx.export)."""
    space = load_task("demo").space
    torch.manual_seed(0)
    supernet = SuperTransformer(space, V, V).eval()
    for index, config in enumerate(configs(space)):
        assert_onnx_equals_pytorch(supernet, config, tmp_path / str(index))


def test_onnx_export_with_different_widths_heads_and_attention_per_layer(tmp_path):
    """WMT'19 shapes: e=640 != d=512, separate per-layer FFN widths, heads and attended encoder layers."""
    from hat.space import SubConfig

    space = load_task("wmt19ende").space
    torch.manual_seed(0)
    supernet = SuperTransformer(space, V, V).eval()
    widths, heads = (1024, 2048) * 3, (4, 8) * 3
    config = SubConfig(640, 512, 6, 3, widths, heads, (3072, 1024, 2048), (8, 4, 8), (4, 8, 4), (1, 2, -1))
    assert_onnx_equals_pytorch(supernet, config, tmp_path / "m")


def test_encoder_graph_beam_reorder_and_metadata(tmp_path):
    space = load_task("demo").space
    supernet = SuperTransformer(space, V, V).eval()
    config = space.largest(2)
    export_onnx(export_subtransformer(supernet, config).eval(), tmp_path / "m")
    meta = read_metadata(tmp_path / "m")
    assert (meta["precision"], meta["decoder_layers"], meta["tgt_vocab_size"]) == ("fp32", config.decoder_layer_num, V)
    session = OrtSubTransformer(tmp_path / "m")
    encoded = session.encode(np.array([[5, 6, 7, 2]], dtype=np.int64))
    # decoder layer attending to the top 3 encoder layers sees 3 x 4 memory positions
    assert encoded["cross_k.0"].shape == (1, 3 * 4, space.qkv_dim)
    assert reorder(encoded, np.zeros(5, dtype=np.int64))["cross_v.0"].shape == (5, 12, space.qkv_dim)


def test_read_metadata_refuses_other_files(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(HatError, match="not a hat-onnx v1"):
        read_metadata(tmp_path)
    with pytest.raises(HatError, match="file not found"):
        read_metadata(tmp_path / "missing")


# --------------------------------------------------------------------------------------------
# Exports in a runtime. Decoding in ONNX Runtime is checked on a model that translates, the default
# target's shipped checkpoint (tests/test_workflow.py: fp32 hypotheses equal eager PyTorch's on the
# demo test set, int8 BLEU within 2 points).


@pytest.mark.slow
def test_onnx_export_refuses_another_precision_at_evaluation(tmp_path_factory, tmp_path, capsys):
    from hat.space import write_subconfig

    supernet = trained_supernet(tmp_path_factory) / "checkpoint_best.pt"
    write_subconfig(load_task("demo").space.largest(1), tmp_path / "sub.yml")
    args = ["export", "--supernet", str(supernet), "--config", str(tmp_path / "sub.yml")]
    assert main([*args, "--out", str(tmp_path / "model.pt")]) == 0
    args = ["export", "--format", "onnx", "--checkpoint", str(tmp_path / "model.pt"), "--precision", "int8"]
    assert main([*args, "--out", str(tmp_path / "int8")]) == 0
    args = ["evaluate", "--task", "demo", "--checkpoint", str(tmp_path / "int8" / "model.json"), "--precision", "fp32"]
    assert main(args + ["--data", str(corpus_dir(tmp_path_factory)), "--out", str(tmp_path / "b.txt")]) == 2
    assert "an int8 ONNX export, not fp32" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Latency datasets and predictors in a runtime


@pytest.mark.slow
def test_ort_int8_latency_dataset_records_runtime_and_its_predictor_refuses_torch(tmp_path, capsys, monkeypatch):
    from test_search_cli import search_args, synthetic_loss

    from hat.latency.dataset import sidecar_path
    from hat.predictor import load_predictor
    from hat.search import predicted_range

    csv = tmp_path / "cpu-ort-int8.csv"
    args = ["latency", "dataset", "--task", "demo", "--vocab-size", "512", "--samples", "26"]
    args += ["--runs", "1", "--warmup", "0", "--threads", "1", "--runtime", "onnxruntime", "--precision", "int8"]
    args += ["--runs-per-reference", "1"]
    assert main(args + ["--tolerance", "10", "--no-progress", "--out", str(csv)]) == 0
    sidecar = json.loads(sidecar_path(csv).read_text())
    assert (sidecar["runtime"], sidecar["precision"]) == ("onnxruntime", "int8")
    assert sidecar["onnxruntime"] and sidecar["environment"]["threads"] >= 1
    predictor_path = tmp_path / "cpu-ort-int8.pt"
    args = ["predictor", "train", str(csv), "--task", "demo", "--hardware", "cpu-ort-int8", "--seed", "0"]
    assert main(args + ["--out", str(predictor_path)]) == 0
    predictor = load_predictor(predictor_path)
    assert (predictor.meta["training_data"]["runtime"], predictor.meta["training_data"]["precision"]) == (
        "onnxruntime",
        "int8",
    )
    supernet = tmp_path / "supernet.pt"
    supernet.write_bytes(b"unused")
    achievable = predicted_range(load_task("demo").space, predictor.predict_ms)
    inputs = {
        "predictor": predictor_path,
        "supernet": supernet,
        "budget": (achievable.fastest_ms + achievable.slowest_ms) / 2,
        "out": tmp_path / "run" / "subtransformer.yml",
    }
    data = tmp_path / "data"  # the dictionary the dataset's --vocab-size 512 stands for
    data.mkdir()
    (data / "dict.tgt.txt").write_text("".join(f"t{i} 1\n" for i in range(508)))
    capsys.readouterr()
    assert main(search_args(inputs, data=data)) == 2  # default: eager PyTorch fp32
    assert "trained on latencies measured in onnxruntime int8, the search is for torch fp32" in capsys.readouterr().err
    assert main(search_args(inputs, "--runtime", "onnxruntime", "--precision", "fp32", data=data)) == 2
    assert not inputs["out"].parent.exists()
    monkeypatch.setattr("hat.fairseq_plugin.fitness.InheritedLoss", lambda *inputs, **options: synthetic_loss)
    assert main(search_args(inputs, "--runtime", "onnxruntime", "--precision", "int8", data=data)) == 0
    found = json.loads(inputs["out"].with_suffix(".json").read_text())
    assert (found["runtime"], found["precision"]) == ("onnxruntime", "int8")


def test_predictor_from_hat_csv_is_torch_fp32(tmp_path):
    """A CSV without a sidecar (HAT's published ones) was measured in eager PyTorch fp32."""
    from hat.runtime import recorded_runtime

    assert recorded_runtime(tmp_path / "titanxp.csv") == {"runtime": "torch", "precision": "fp32"}


def test_latency_meter_in_each_runtime_times_the_same_config():
    from hat.latency.measure import LatencyMeter

    task = load_task("demo")
    config = task.latency_space.smallest(-1)
    for runtime, precision in (("torch", "int8"), ("onnxruntime", "fp32")):
        meter = LatencyMeter(task, runs=2, warmup=1, threads=1, vocab_size=512, runtime=runtime, precision=precision)
        measured = meter.measure(config)
        assert measured.encoder_ms > 0 and measured.decoder_ms > 0 and measured.runs == 2
        assert (meter.protocol()["runtime"], meter.protocol()["precision"]) == (runtime, precision)
    with pytest.raises(HatError, match="timed on the CPU only"):
        LatencyMeter(task, device="cuda", vocab_size=512, runtime="onnxruntime")


def test_prepared_models_keep_the_most_recent_configs():
    from hat.runtime.timing import PreparedModels

    cache = PreparedModels(size=2)
    assert cache.get("reference") is None
    cache.keep("reference", "session-1")
    cache.keep("a", "a")
    assert cache.get("reference") == "session-1"  # used again: now the most recent
    cache.keep("b", "b")
    assert cache.get("a") is None and cache.get("reference") == "session-1" and cache.get("b") == "b"
    cache.keep("c", "c")
    assert cache.get("reference") is None  # least recent dropped at size 2
