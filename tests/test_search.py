"""The evolutionary search core (hat-spec §5) on synthetic analytic fitness/latency landscapes."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from hat.errors import HatError
from hat.search import SearchSettings, check_budget, evolve, predicted_range, random_search
from hat.search.evolution import Evolution
from hat.space import SubConfig, hat_features
from hat.tasks import load_task

SMALL = SearchSettings(population=20, parents=6, mutations=7, crossovers=7, iterations=6, seed=3)


def synthetic_latency(configs: list[SubConfig]) -> list[float]:
    """Linear in HAT's 10 features, like a cost-term predictor (ms)."""
    weights = (0.02, 1.0, 0.004, 0.5, 0.03, 6.0, 0.006, 0.5, 0.5, 2.0)
    return [sum(w * f for w, f in zip(weights, hat_features(c), strict=True)) for c in configs]


def synthetic_loss(configs: list[SubConfig]) -> list[float]:
    """Capacity helps with diminishing returns; per-layer weights differ from the latency model's,
    and a small hash term makes the landscape rugged. Lower is better."""

    def loss(c: SubConfig) -> float:
        capacity = math.log(c.encoder_embed_dim) + 1.3 * math.log(c.decoder_embed_dim)
        capacity += sum(math.sqrt(f) / (20 * (i + 1)) for i, f in enumerate(c.encoder_ffn_embed_dim))
        capacity += sum(math.sqrt(f) / (12 * (i + 1)) for i, f in enumerate(c.decoder_ffn_embed_dim))
        capacity += 0.3 * sum(h == 4 for h in c.decoder_ende_attention_heads) + 0.2 * c.decoder_layer_num
        noise = zlib.crc32(repr(c).encode()) % 1000 / 20000
        return 20.0 - capacity + noise

    return [loss(c) for c in configs]


@pytest.fixture(scope="module")
def space():
    return load_task("wmt14ende").space


def middle_budget(space) -> float:
    achievable = predicted_range(space, synthetic_latency)
    return (achievable.fastest_ms + achievable.slowest_ms) / 2


def test_default_settings_are_hats():
    settings = SearchSettings()
    assert (settings.population, settings.parents, settings.mutations, settings.crossovers) == (125, 25, 50, 50)
    assert (settings.mutation_prob, settings.iterations) == (0.3, 30)
    settings.check()


@pytest.mark.parametrize("population, split", [(125, (25, 50, 50)), (20, (4, 8, 8)), (10, (2, 4, 4)), (7, (2, 2, 3))])
def test_population_alone_keeps_hats_split(population, split):
    settings = SearchSettings.for_population(population, seed=9)
    assert (settings.parents, settings.mutations, settings.crossovers) == split and settings.seed == 9
    settings.check()
    assert SearchSettings.for_population(20, parents=6).mutations == 7


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(population=100), "population 100 != parents 25"),
        (dict(parents=1, mutations=74, crossovers=50), "crossovers need at least 2 parents"),
        (dict(mutation_prob=1.5), "mutation_prob must lie in [0, 1]"),
        (dict(iterations=0), "iterations must be >= 1"),
    ],
)
def test_inconsistent_settings_are_one_line_errors(bad, message):
    with pytest.raises(HatError, match=message.replace("[", r"\[").replace("]", r"\]")):
        SearchSettings(**bad).check()


def test_result_obeys_budget_and_same_seed_gives_same_result(space):
    budget = middle_budget(space)
    first = evolve(space, synthetic_loss, synthetic_latency, budget, SMALL)
    second = evolve(space, synthetic_loss, synthetic_latency, budget, SMALL)
    other_seed = evolve(
        space, synthetic_loss, synthetic_latency, budget, SearchSettings(**{**SMALL.to_dict(), "seed": 4})
    )

    assert first.best == second.best and first.population == second.population
    assert [r.best_fitness for r in first.log] == [r.best_fitness for r in second.log]
    assert first.population != other_seed.population
    assert max(synthetic_latency(first.population)) <= budget
    assert first.best_predicted_ms == synthetic_latency([first.best])[0] <= budget
    assert first.best_fitness == synthetic_loss([first.best])[0] == min(first.population_fitness)
    space.validate(first.best)
    assert len(first.log) == SMALL.iterations and len(first.population) == SMALL.population


def test_parents_survive_so_best_fitness_never_increases(space):
    result = evolve(space, synthetic_loss, synthetic_latency, middle_budget(space), SMALL)
    best = [row.best_fitness for row in result.log]
    assert best == sorted(best, reverse=True)
    assert best[-1] < best[0]  # the search made progress on this landscape
    assert all(row.mean_fitness >= row.best_fitness for row in result.log)


def test_identical_configs_are_scored_once_and_calls_are_batched(space):
    calls: list[list[SubConfig]] = []

    def recording_loss(configs):
        calls.append(list(configs))
        return synthetic_loss(configs)

    result = evolve(space, recording_loss, synthetic_latency, middle_budget(space), SMALL)
    scored = [config for call in calls for config in call]
    assert len(scored) == len(set(scored)) == result.evaluations == result.log[-1].evaluations
    assert len(calls) == SMALL.iterations  # one fitness call per generation
    # the parents re-enter every generation, so far fewer than iterations × population are scored
    assert result.evaluations < SMALL.iterations * SMALL.population


def test_offspring_come_from_parents(space):
    evolution = Evolution(space, synthetic_loss, synthetic_latency, 1e9, SearchSettings(mutation_prob=0.0))
    parents = [space.random_gene(evolution.rng) for _ in range(5)]
    for _ in range(20):
        assert evolution.mutate(parents) in parents  # p=0: a mutant is a copy of its parent
        child = evolution.crossover(parents)
        assert any(all(c in (a[i], b[i]) for i, c in enumerate(child)) for a in parents for b in parents if a != b)
    evolution.settings = SearchSettings(mutation_prob=1.0)
    choices = space.gene_choices()
    mutants = [evolution.mutate(parents) for _ in range(200)]
    changed = sum(m[i] != p[i] for m in mutants for p in parents[:1] for i in range(len(p))) / (200 * len(choices))
    assert 0.3 < changed < 0.8  # p=1 redraws every gene, and a redraw may return the same value


def test_evolution_beats_random_search_with_the_same_evaluations(space):
    budget = middle_budget(space)
    settings = SearchSettings(population=40, parents=10, mutations=15, crossovers=15, iterations=12)
    for seed in (1, 2, 3):
        evolved = evolve(
            space, synthetic_loss, synthetic_latency, budget, SearchSettings(**{**settings.to_dict(), "seed": seed})
        )
        _, random_best = random_search(space, synthetic_loss, synthetic_latency, budget, evolved.evaluations, seed=seed)
        assert evolved.best_fitness < random_best


@pytest.mark.parametrize("where, message", [("below", "is below the fastest"), ("above", "does not constrain")])
def test_infeasible_budgets_are_one_line_errors_naming_the_range(space, where, message):
    achievable = predicted_range(space, synthetic_latency)
    budget = achievable.fastest_ms * 0.9 if where == "below" else achievable.slowest_ms
    with pytest.raises(HatError, match=message) as err:
        check_budget(space, synthetic_latency, budget)
    assert "\n" not in str(err.value) and f"achievable: {achievable}" in str(err.value)


def test_budget_range_covers_the_extremes_of_a_monotone_predictor(space):
    achievable = predicted_range(space, synthetic_latency, samples=0)
    assert achievable.fastest_ms == synthetic_latency([space.smallest(arbitrary=-1)])[0]
    assert achievable.slowest_ms == synthetic_latency([space.largest(arbitrary=2)])[0]


def test_budget_range_finds_what_the_extremes_miss_for_a_non_monotone_predictor(space):
    def bump_in_the_middle(configs):  # fastest at both extremes of decoder depth
        return [10.0 + (c.decoder_layer_num - 1) * (6 - c.decoder_layer_num) for c in configs]

    assert predicted_range(space, bump_in_the_middle).slowest_ms == 16.0
    assert max(bump_in_the_middle([space.smallest(arbitrary=-1), space.largest(arbitrary=2)])) == 10.0


def test_rejection_sampling_is_bounded(space):
    tight = predicted_range(space, synthetic_latency, samples=0).fastest_ms
    settings = SearchSettings(**{**SMALL.to_dict(), "max_draws": 300})
    with pytest.raises(HatError, match=r"within the .* ms budget after 300 draws \(max_draws\); raise the budget"):
        evolve(space, synthetic_loss, synthetic_latency, tight, settings)


def test_state_of_another_search_is_not_resumed(space, tmp_path):
    budget = middle_budget(space)
    state = tmp_path / "sub.state.json"
    evolve(space, synthetic_loss, synthetic_latency, budget, SMALL, state_path=state, inputs={"predictor": "a"})
    fresh = evolve(space, synthetic_loss, synthetic_latency, budget, SMALL)
    rerun = evolve(space, synthetic_loss, synthetic_latency, budget, SMALL, state_path=state, inputs={"predictor": "b"})
    assert rerun.resumed_generations == 0 and rerun.population == fresh.population


# A child process that SIGKILLs itself in the middle of the 4th generation's fitness call.
_KILLED_SEARCH = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from test_search import SMALL, middle_budget, synthetic_latency, synthetic_loss
from hat.search import evolve
from hat.tasks import load_task
calls = []
def dying_loss(configs):
    calls.append(1)
    if len(calls) == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    return synthetic_loss(configs)
space = load_task("wmt14ende").space
evolve(space, dying_loss, synthetic_latency, middle_budget(space), SMALL, state_path={state!r})
"""


def test_resume_after_sigkill_ends_with_the_uninterrupted_result(space, tmp_path):
    state = tmp_path / "sub.state.json"
    script = _KILLED_SEARCH.format(tests=str(Path(__file__).parent), state=str(state))
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=os.environ)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert json.loads(state.read_text())["generations_done"] == 3

    budget = middle_budget(space)
    calls: list[int] = []

    def counting_loss(configs):
        calls.append(len(configs))
        return synthetic_loss(configs)

    resumed = evolve(space, counting_loss, synthetic_latency, budget, SMALL, state_path=state)
    uninterrupted = evolve(space, synthetic_loss, synthetic_latency, budget, SMALL)
    assert resumed.resumed_generations == 3 and len(calls) == SMALL.iterations - 3
    assert resumed.best == uninterrupted.best and resumed.population == uninterrupted.population
    assert [r.best_fitness for r in resumed.log] == [r.best_fitness for r in uninterrupted.log]
    assert resumed.evaluations == uninterrupted.evaluations

    finished = evolve(space, counting_loss, synthetic_latency, budget, SMALL, state_path=state)
    assert finished.resumed_generations == SMALL.iterations and finished.best == uninterrupted.best
