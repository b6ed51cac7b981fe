"""What a predictor guarantees beyond its held-out accuracy: a smaller SubTransformer is never
predicted slower (non-negative cost coefficients), and its upper bound covers the stated share."""

from __future__ import annotations

import random

import numpy as np
import pytest

from hat.predictor import Predictor, fit_predictor
from hat.space import SubConfig, encoder_layers_attended, hat_features
from hat.tasks import load_task


def _no_larger(config: SubConfig, space, rng: random.Random) -> SubConfig:
    """A config no larger than `config` in any width, head count, depth or cross-attention span:
    fewer or as many layers, each layer's choices at most the big one's layer at that position."""

    def at_most(value: int, choices) -> int:
        return rng.choice([c for c in choices if c <= value])

    def per_layer(values, choices, count):
        return tuple(at_most(v, choices) for v in values[:count])

    encoder_layers = at_most(config.encoder_layer_num, space.encoder_layer_num_choice)
    decoder_layers = at_most(config.decoder_layer_num, space.decoder_layer_num_choice)
    spans = [
        rng.choice([a for a in space.decoder_arbitrary_ende_attn_choice if encoder_layers_attended(a) <= span])
        for span in map(encoder_layers_attended, config.decoder_arbitrary_ende_attn[:decoder_layers])
    ]
    return SubConfig(
        encoder_embed_dim=at_most(config.encoder_embed_dim, space.encoder_embed_choice),
        decoder_embed_dim=at_most(config.decoder_embed_dim, space.decoder_embed_choice),
        encoder_layer_num=encoder_layers,
        decoder_layer_num=decoder_layers,
        encoder_ffn_embed_dim=per_layer(
            config.encoder_ffn_embed_dim, space.encoder_ffn_embed_dim_choice, encoder_layers
        ),
        encoder_self_attention_heads=per_layer(
            config.encoder_self_attention_heads, space.encoder_self_attention_heads_choice, encoder_layers
        ),
        decoder_ffn_embed_dim=per_layer(
            config.decoder_ffn_embed_dim, space.decoder_ffn_embed_dim_choice, decoder_layers
        ),
        decoder_self_attention_heads=per_layer(
            config.decoder_self_attention_heads, space.decoder_self_attention_heads_choice, decoder_layers
        ),
        decoder_ende_attention_heads=per_layer(
            config.decoder_ende_attention_heads, space.decoder_ende_attention_heads_choice, decoder_layers
        ),
        decoder_arbitrary_ende_attn=tuple(spans),
    )


def _noisy_device_ms(configs, rng: np.random.Generator) -> np.ndarray:
    """A device dominated by the decoder's per-step cost, timed with 8 % noise and a 25 % slow stretch:
    few rows of it let a free least-squares fit trade one term against another (negative costs)."""
    features = np.array([hat_features(c) for c in configs])
    e, n_enc, f_enc, _, d, n_dec, f_dec, *_ = features.T
    true_ms = 20 + 0.002 * e * n_enc + 1e-5 * e * f_enc * n_enc + 12 * n_dec + 4e-5 * d * f_dec * n_dec
    measured = true_ms * (1 + 0.08 * rng.standard_normal(len(configs)))
    measured[: len(configs) // 4] *= 1.25
    return measured


@pytest.mark.parametrize("rows", [40, 80])
def test_a_no_larger_config_is_never_predicted_slower(rows):
    space = load_task("wmt14ende").latency_space
    rng = random.Random(rows)
    noise = np.random.default_rng(rows)
    violations, coefficients = 0, []
    for _ in range(8):  # 8 fits, each on its own `rows` noisy rows
        train = [space.sample(rng) for _ in range(rows)]
        fitted = fit_predictor(
            np.array([hat_features(c) for c in train]), _noisy_device_ms(train, noise), "cost", 0, "x"
        )
        coefficients.append(fitted["parameters"]["coefficients"].numpy())
        predictor = Predictor(fitted)
        big = [space.sample(rng) for _ in range(250)]
        small = [_no_larger(c, space, rng) for c in big]
        violations += int((predictor.predict_ms(small) > predictor.predict_ms(big) * (1 + 1e-12)).sum())
    assert violations == 0
    assert min(c.min() for c in coefficients) >= 0.0


def test_upper_bound_covers_the_stated_share_of_new_rows():
    """Skewed noise (CPU timings have a slow shoulder): the 90 % bound covers 90 % of fresh rows."""
    from hat.predictor import build_predictor, cost_terms

    task = load_task("demo")
    rng, noise = random.Random(5), np.random.default_rng(5)
    configs = [task.latency_space.sample(rng) for _ in range(2600)]
    terms = cost_terms(np.array([hat_features(c) for c in configs]))
    measured = terms @ (1.0 / terms.mean(axis=0)) * (1 + noise.gamma(2.0, 0.02, len(configs)))  # [N] ms
    features = np.array([hat_features(c) for c in configs])
    predictor, heldout = build_predictor(
        features[:600], measured[:600], method="cost", seed=0, task=task, hardware="cpu", data_info={"file": "s"}
    )
    interval = predictor.interval
    assert len(interval["scores"]) == 480  # the training rows, each scored by a fit without it
    heldout_covered = measured[heldout.rows] <= heldout.predicted_ms * predictor.upper_factor(0.9)
    assert predictor.metrics["upper_bound_coverage_pct"]["0.9"] == pytest.approx(
        100 * heldout_covered.mean()
    )  # 120 rows: ±3 points
    fresh = slice(600, None)  # 2000 rows neither the fit nor the calibration saw
    for confidence in (0.8, 0.9, 0.95):
        covered = measured[fresh] <= predictor.predict_features(features[fresh]) * predictor.upper_factor(confidence)
        assert 100 * covered.mean() == pytest.approx(100 * confidence, abs=2.5)
    probability = predictor.budget_probability(100.0, 100.0 * predictor.upper_factor(0.9))
    assert probability == pytest.approx(0.9, abs=1 / 481)


def test_nonnegative_least_squares_meets_its_optimality_conditions_from_any_warm_start():
    """The IRLS steps warm-start the NNLS from the previous solution: from any feasible start it must
    reach the same (unique, full-rank) optimum as from scratch, and that optimum must satisfy KKT."""
    from hat.predictor.cost import nonnegative_least_squares

    rng = np.random.default_rng(0)
    for _ in range(20):
        matrix = rng.normal(size=(60, 8))
        target = matrix @ rng.normal(size=8) + 0.1 * rng.normal(size=60)  # about half the free optimum < 0
        cold = nonnegative_least_squares(matrix, target)
        start = rng.uniform(0, 2, size=8) * (rng.random(8) < 0.5)
        warm = nonnegative_least_squares(matrix, target, start)
        np.testing.assert_allclose(warm, cold, atol=1e-9)
        gradient = matrix.T @ (target - matrix @ cold)  # −½ d||·||²/dβ
        assert (cold >= 0).all() and 0 < (cold == 0).sum() < 8
        assert np.abs(gradient[cold > 0]).max() < 1e-8 and gradient[cold == 0].max() < 1e-8
