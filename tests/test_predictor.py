"""Latency predictors: fitting, held-out metrics, the safe self-describing file, CLI outputs."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from hat.cli import main as hat_main
from hat.errors import HatError
from hat.latency.table import read_latency_csv, row_from_config, write_latency_csv
from hat.predictor import (
    COST_TERMS,
    Predictor,
    cost_terms,
    fit_huber,
    fit_predictor,
    fit_tolerance,
    heldout_split,
    kendall_tau,
    latency_metrics,
    load_predictor,
    per_layer_terms,
)
from hat.predictor.terms import layer_choices, per_layer_term_names
from hat.space import SubConfig, hat_features
from hat.tasks import load_task

REPO = Path(__file__).resolve().parents[1]
HAT_CSV = REPO.parent / "shared" / "hat-latency" / "wmt14enfr_gpu_titanxp_all.csv"
HAT_XEON_CSV = HAT_CSV.with_name("wmt14ende_cpu_xeon_all.csv")
needs_shared = pytest.mark.skipif(not HAT_CSV.is_file(), reason="../shared/hat-latency absent")


def test_cost_terms_from_averages_equal_per_layer_sums():
    space = load_task("wmt14ende").latency_space
    rng = random.Random(0)
    configs = [space.sample(rng) for _ in range(20)]
    terms = cost_terms(np.array([hat_features(c) for c in configs]))
    assert terms.shape == (20, len(COST_TERMS))
    names = list(COST_TERMS)
    for config, row in zip(configs, terms):
        d, e = config.decoder_embed_dim, config.encoder_embed_dim
        assert row[names.index("decoder_ffn")] == pytest.approx(d * sum(config.decoder_ffn_embed_dim))
        attended = sum({-1: 1, 1: 2, 2: 3}[a] for a in config.decoder_arbitrary_ende_attn)
        assert row[names.index("ende_kv")] == pytest.approx(e * attended)


def test_huber_fit_ignores_a_slow_block():
    rng = np.random.default_rng(0)
    terms = np.column_stack([np.ones(300), rng.uniform(1, 5, 300)])  # [300, 2]
    truth = terms @ np.array([2.0, 3.0])
    measured = truth * (1 + 0.005 * rng.standard_normal(300))
    measured[100:150] *= 1.25  # a drifted block: 1/6 of the rows 25 % slow
    robust = fit_huber(terms, measured)
    least_squares = np.linalg.lstsq(terms / measured[:, None], np.ones(300), rcond=None)[0]
    assert robust == pytest.approx([2.0, 3.0], rel=0.01)
    assert np.abs(terms @ least_squares / truth - 1).mean() > 0.02  # the plain fit is pulled up


def test_tolerance_refit_pulls_edge_rows_in_and_ignores_a_slow_block():
    rng = np.random.default_rng(0)
    terms = np.column_stack([np.ones(600), rng.uniform(1, 5, 600)])  # [600, 2]
    truth = terms @ np.array([2.0, 3.0])
    skewed = np.where(rng.random(600) < 0.5, rng.normal(0.0, 0.02, 600), rng.uniform(0.06, 0.14, 600))
    measured = truth * (1 + skewed)  # half the rows on a slow shoulder, as in CPU timings
    measured[200:300] *= 1.3  # a drifted block

    def within_10(coefficients):
        return np.abs(terms @ coefficients / measured - 1) <= 0.10  # [600] bool

    start = fit_huber(terms, measured)
    refined = fit_tolerance(terms, measured, start)
    assert within_10(refined).mean() >= within_10(start).mean() + 0.01
    assert not within_10(refined)[200:300].any()  # the drifted block is not chased
    assert np.abs(terms @ refined / truth - 1).max() < 0.06


def test_metrics_exact_values():
    measured = np.array([100.0, 200.0, 300.0, 400.0])
    predicted = np.array([104.0, 180.0, 300.0, 500.0])  # errors 4 %, 10 %, 0 %, 25 %
    metrics = latency_metrics(measured, predicted)
    assert metrics["mape_pct"] == pytest.approx(100 * (0.04 + 0.10 + 0 + 0.25) / 4)
    assert metrics["within_5_pct"] == 50.0 and metrics["within_10_pct"] == 75.0
    assert metrics["rmse_ms"] == pytest.approx(np.sqrt((16 + 400 + 0 + 10000) / 4))
    assert kendall_tau(measured, predicted) == 1.0
    assert kendall_tau(measured, measured[::-1].copy()) == -1.0


def test_heldout_split_is_seeded_and_disjoint():
    train, heldout = heldout_split(100, seed=3)
    assert len(heldout) == 20 and len(set(train) | set(heldout)) == 100
    assert np.array_equal(heldout, heldout_split(100, seed=3)[1])
    assert not np.array_equal(heldout, heldout_split(100, seed=4)[1])


@needs_shared
def test_train_and_predict_on_hat_csv(tmp_path):
    out = tmp_path / "predictor" / "titanxp.pt"
    argv = ["predictor", "train", str(HAT_CSV), "--task", "wmt14enfr", "--hardware", "titanxp", "--out", str(out)]
    assert hat_main(argv) == 0
    predictor = load_predictor(out)
    meta = predictor.meta
    assert (predictor.task, predictor.hardware, predictor.space_name) == ("wmt14enfr", "titanxp", "wmt14enfr")
    assert meta["latency_space"] == "wmt14enfr-latency" and meta["kind"] == "cost"
    assert meta["training_data"]["rows"] == 2000 and meta["training_data"]["heldout_rows"] == 400
    assert len(meta["training_data"]["sha256"]) == 64 and meta["features"]["inputs"][0] == "encoder_embed_dim"
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    assert metrics["within_10_pct"] >= 99.0 and metrics["mape_pct"] < 1.9 and metrics["kendall_tau"] > 0.85
    assert metrics == {"predictor": "titanxp.pt", "kind": "cost", **meta["metrics"]}
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    with open(out.with_suffix(".predictions.csv")) as stream:
        assert len(list(csv.DictReader(stream))) == 400

    predicted_csv = tmp_path / "predicted.csv"
    assert hat_main(["predictor", "predict", str(out), str(HAT_CSV), "--out", str(predicted_csv)]) == 0
    with open(predicted_csv) as stream:
        table = list(csv.DictReader(stream))
    rows = read_latency_csv(HAT_CSV)
    assert len(table) == 2000 and list(table[0])[-1] == "predicted_ms"
    direct = predictor.predict_features(np.array([r.features for r in rows]))
    assert [float(t["predicted_ms"]) for t in table] == pytest.approx(direct.tolist())
    assert table[5]["latency_mean_decoder"] == HAT_CSV.read_text().splitlines()[6].split(",")[11]


@needs_shared
def test_default_fit_on_noisy_cpu_set_beats_the_huber_start():
    """HAT's En-De Xeon set (noisy, right-skewed timings), bench split seed 0."""
    rows = read_latency_csv(HAT_XEON_CSV)
    features, target_ms = np.array([r.features for r in rows]), np.array([r.total_ms for r in rows])
    train, heldout = heldout_split(len(rows), seed=0)
    fitted = fit_predictor(features[train], target_ms[train], "cost", 0, "xeon")
    metrics = latency_metrics(target_ms[heldout], Predictor(fitted).predict_features(features[heldout]))
    assert metrics["within_10_pct"] >= 90.5 and metrics["mape_pct"] < 5.0 and metrics["within_5_pct"] > 55
    terms = cost_terms(features)
    scale = np.array(fitted["normalization"]["term_scale"])
    start = fit_huber(terms[train] / scale, target_ms[train])
    start_within_10 = latency_metrics(target_ms[heldout], terms[heldout] / scale @ start)["within_10_pct"]
    assert metrics["within_10_pct"] >= start_within_10 + 2


@needs_shared
def test_predict_ms_on_configs_matches_features(tmp_path):
    out = tmp_path / "p.pt"
    assert hat_main(["predictor", "train", str(HAT_CSV), "--task", "wmt14enfr", "--hardware", "titanxp",
                     "--out", str(out)]) == 0  # fmt: skip
    predictor = load_predictor(out)
    space = load_task("wmt14enfr").space
    configs = [space.smallest(), space.largest()]
    predicted = predictor.predict_ms(configs)
    assert predicted.shape == (2,) and predicted[0] < predicted[1]
    assert predicted == pytest.approx(predictor.predict_features(np.array([hat_features(c) for c in configs])))


def test_predictor_file_loads_without_code_and_foreign_files_are_refused(tmp_path):
    fake = tmp_path / "model.pt"
    torch.save({"state_dict": {}}, fake)
    with pytest.raises(HatError, match="not a HAT latency predictor file"):
        load_predictor(fake)

    evil = tmp_path / "evil.pt"  # an arbitrary class: loading it would mean unpickling code references
    torch.save({"format": "hat-latency-predictor", "obj": argparse.Namespace(a=1)}, evil)
    with pytest.raises(HatError, match="not a loadable HAT checkpoint"):
        load_predictor(evil)


def _demo_rows(count: int):
    space = load_task("demo").latency_space
    rng = random.Random(1)
    configs = [space.sample(rng) for _ in range(count)]
    return [row_from_config(c, encoder_ms=1.0, decoder_ms=10.0 + i, encoder_std_ms=0, decoder_std_ms=0)
            for i, c in enumerate(configs)]  # fmt: skip


def test_too_few_rows_is_an_error_and_nothing_is_written(tmp_path, capsys):
    data = tmp_path / "small.csv"
    write_latency_csv(data, _demo_rows(10))
    code = hat_main(["predictor", "train", str(data), "--task", "demo", "--hardware", "cpu",
                     "--out", str(tmp_path / "p.pt")])  # fmt: skip
    assert code == 2 and "small.csv: 10 rows, at least 25 needed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [data]


def _linear_demo_rows(count: int, slow: range, flagged: range):
    """Demo latency-space rows whose total latency is exactly linear in the cost terms, except
    the `slow` ones (25 % slow, as a drifted block); `flagged` rows carry drift_flag 1."""
    space = load_task("demo").latency_space
    rng = random.Random(2)
    configs = [space.sample(rng) for _ in range(count)]
    terms = cost_terms(np.array([hat_features(c) for c in configs]))  # [count, T]
    total_ms = terms @ (1.0 / terms.mean(axis=0))  # each term contributes about 1 ms
    total_ms[list(slow)] *= 1.25
    return [
        row_from_config(c, encoder_ms=0.3 * t, decoder_ms=0.7 * t, encoder_std_ms=0, decoder_std_ms=0,
                        drift_flag=int(i in flagged))
        for i, (c, t) in enumerate(zip(configs, total_ms))
    ]  # fmt: skip


def test_drift_flagged_rows_are_left_out_of_the_fit_and_the_metrics(tmp_path):
    data, out = tmp_path / "cpu.csv", tmp_path / "p.pt"
    write_latency_csv(data, _linear_demo_rows(200, slow=range(60, 110), flagged=range(60, 110)))
    assert hat_main(["predictor", "train", str(data), "--task", "demo", "--hardware", "cpu", "--out", str(out)]) == 0
    meta = load_predictor(out).meta
    train, heldout = heldout_split(200, seed=0)
    steady_train = int(sum(not 60 <= i < 110 for i in train))
    steady_heldout = int(sum(not 60 <= i < 110 for i in heldout))
    assert meta["training_data"]["drift_flagged_rows"] == 50
    counts = meta["training_data"]["train_rows"], meta["training_data"]["heldout_rows"]
    assert counts == (steady_train, steady_heldout)
    assert meta["metrics"]["rows"] == steady_heldout
    assert meta["metrics"]["mape_pct"] < 1e-3 and meta["metrics"]["within_5_pct"] == 100.0
    with open(out.with_suffix(".predictions.csv")) as stream:
        listed = list(csv.DictReader(stream))  # every held-out row, flagged ones marked
    assert len(listed) == 40 and sum(r["drift_flag"] == "1" for r in listed) == 40 - steady_heldout

    unflagged = tmp_path / "unflagged.csv"  # the same slow block without flags is scored as slow
    write_latency_csv(unflagged, _linear_demo_rows(200, slow=range(60, 110), flagged=range(0)))
    assert hat_main(["predictor", "train", str(unflagged), "--task", "demo", "--hardware", "cpu",
                     "--out", str(tmp_path / "q.pt")]) == 0  # fmt: skip
    assert load_predictor(tmp_path / "q.pt").metrics["within_10_pct"] == pytest.approx(100 * steady_heldout / 40)


def test_predictor_files_go_where_their_flags_name_them(tmp_path):
    """The workflow names each output; by hand they default to the predictor's name (above)."""
    data, out, elsewhere = tmp_path / "cpu.csv", tmp_path / "p.pt", tmp_path / "elsewhere"
    write_latency_csv(data, _linear_demo_rows(60, slow=range(0), flagged=range(0)))
    named = {"--metrics": elsewhere / "m.json", "--predictions": elsewhere / "held.csv", "--plot": elsewhere / "s.png"}
    argv = ["predictor", "train", str(data), "--task", "demo", "--hardware", "cpu", "--out", str(out)]
    assert hat_main(argv + [str(word) for pair in named.items() for word in pair]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cpu.csv", "elsewhere", "p.pt"]
    metrics = {"predictor": "p.pt", "kind": "cost", **load_predictor(out).metrics}
    assert json.loads(named["--metrics"].read_text()) == metrics
    assert len(named["--predictions"].read_text().splitlines()) == 1 + 12  # header + the held-out 20 %
    assert named["--plot"].read_bytes()[:4] == b"\x89PNG"


def test_too_few_steady_rows_is_an_error_and_nothing_is_written(tmp_path, capsys):
    data = tmp_path / "drifting.csv"
    write_latency_csv(data, _linear_demo_rows(60, slow=range(0), flagged=range(45)))
    code = hat_main(["predictor", "train", str(data), "--task", "demo", "--hardware", "cpu",
                     "--out", str(tmp_path / "p.pt")])  # fmt: skip
    assert code == 2
    assert "drifting.csv: 15 of 60 rows not flagged for drift, at least 25 needed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [data]


def test_per_layer_terms_count_each_choice_per_layer_kind():
    space = load_task("demo").latency_space  # FFN 256/192/128/64, heads 4/2/1
    config = SubConfig(
        encoder_embed_dim=96,
        decoder_embed_dim=128,
        encoder_layer_num=3,
        decoder_layer_num=2,
        encoder_ffn_embed_dim=(256, 64, 256),
        encoder_self_attention_heads=(4, 4, 1),
        decoder_ffn_embed_dim=(192, 64),
        decoder_self_attention_heads=(2, 2),
        decoder_ende_attention_heads=(4, 1),
        decoder_arbitrary_ende_attn=(2, -1),  # 3 and 1 encoder layers attended
    )
    choices = layer_choices(space)
    terms = per_layer_terms([config], choices)
    assert terms.shape == (1, len(per_layer_term_names(choices)))
    assert terms[0].tolist() == [
        *(96 * 2, 0, 0, 96 * 1),  # encoder FFN widths 256, 192, 128, 64
        *(0, 128 * 1, 0, 128 * 1),  # decoder FFN widths
        *(2, 0, 1),  # encoder layers with 4, 2, 1 heads
        *(0, 2, 0),  # decoder self-attention
        *(1, 0, 1),  # decoder cross-attention
        4 * 3 + 1 * 1,  # Σ h_ende · a
    ]
    outside = dataclasses.replace(config, decoder_ffn_embed_dim=(192, 96))
    with pytest.raises(HatError, match=r"decoder_ffn_embed_dim 96 is not among the predictor's \[256, 192, 128, 64\]"):
        per_layer_terms([outside], choices)


def _per_layer_cost_rows(count: int):
    """Demo rows whose latency is a per-layer lookup, not linear in FFN width: the averaged features
    cannot express it (a [256, 64] stack costs more than [192, 128] at the same average width)."""
    space = load_task("demo").latency_space
    rng = random.Random(3)
    lookup = {256: 6.0, 192: 1.0, 128: 1.5, 64: 4.0}  # ms per layer at width 128
    rows = []
    for _ in range(count):
        config = space.sample(rng)
        encoder_ms = 2 + sum(config.encoder_embed_dim / 128 * lookup[f] for f in config.encoder_ffn_embed_dim)
        decoder_ms = 5 + sum(config.decoder_embed_dim / 128 * lookup[f] for f in config.decoder_ffn_embed_dim)
        rows.append(row_from_config(config, encoder_ms=encoder_ms, decoder_ms=decoder_ms, encoder_std_ms=0,
                                    decoder_std_ms=0))  # fmt: skip
    return rows


def test_cost_per_layer_fits_a_per_layer_lookup_that_the_averages_cannot(tmp_path):
    data = tmp_path / "cpu.csv"
    rows = _per_layer_cost_rows(300)
    write_latency_csv(data, rows)
    metrics = {}
    for method in ("cost", "cost-per-layer"):
        out = tmp_path / f"{method}.pt"
        argv = ["predictor", "train", str(data), "--task", "demo", "--hardware", "cpu", "--out", str(out)]
        assert hat_main([*argv, "--method", method]) == 0
        metrics[method] = load_predictor(out).metrics
    assert metrics["cost-per-layer"]["mape_pct"] < 1e-3 and metrics["cost-per-layer"]["within_5_pct"] == 100.0
    assert metrics["cost"]["mape_pct"] > 10.0  # the sums see only the average width

    predictor = load_predictor(tmp_path / "cost-per-layer.pt")
    assert predictor.meta["features"]["layer_choices"]["encoder_ffn_embed_dim_choice"] == [256, 192, 128, 64]
    configs = [row.config for row in rows[:5]]
    assert predictor.predict_ms(configs) == pytest.approx([row.total_ms for row in rows[:5]], rel=1e-6)
    with pytest.raises(HatError, match="needs the per-layer config"):
        predictor.predict_features(np.array([row.features for row in rows[:5]]))


def test_cost_per_layer_without_configs_is_a_one_line_error(tmp_path, capsys):
    hat_like = tmp_path / "hat_like.csv"  # HAT's columns only: no per-layer configs
    write_latency_csv(hat_like, [dataclasses.replace(row, config=None) for row in _per_layer_cost_rows(40)])
    argv = ["predictor", "train", str(hat_like), "--task", "demo", "--hardware", "cpu", "--out", str(tmp_path / "p.pt")]
    assert hat_main([*argv, "--method", "cost-per-layer"]) == 2
    assert "hat_like.csv: row 1 has no subtransformer config, which cost-per-layer needs" in capsys.readouterr().err
    assert not (tmp_path / "p.pt").exists()

    data = tmp_path / "cpu.csv"
    write_latency_csv(data, _per_layer_cost_rows(40))
    argv = ["predictor", "train", str(data), "--task", "demo", "--hardware", "cpu", "--out", str(tmp_path / "p.pt")]
    assert hat_main([*argv, "--method", "cost-per-layer"]) == 0
    out = tmp_path / "predicted.csv"
    assert hat_main(["predictor", "predict", str(tmp_path / "p.pt"), str(hat_like), "--out", str(out)]) == 2
    assert "hat_like.csv: row 1 has no subtransformer config" in capsys.readouterr().err
    assert not out.exists()
    assert hat_main(["predictor", "predict", str(tmp_path / "p.pt"), str(data), "--out", str(out)]) == 0
    with open(out) as stream:
        predicted = [float(row["predicted_ms"]) for row in csv.DictReader(stream)]
    assert predicted == pytest.approx([row.total_ms for row in read_latency_csv(data)], rel=1e-6)


def test_cli_bad_input_exits_2_naming_the_file(tmp_path, capsys):
    data = tmp_path / "wrong_space.csv"
    write_latency_csv(data, _demo_rows(40))
    code = hat_main(["predictor", "train", str(data), "--task", "wmt14ende", "--hardware", "x",
                     "--out", str(tmp_path / "p.pt")])  # fmt: skip
    assert code == 2
    message = capsys.readouterr().err
    assert "wrong_space.csv: row 1 column subtransformer" in message and "not in the space" in message
    assert not (tmp_path / "p.pt").exists()
