"""HAT's evolutionary search under a predicted-latency constraint (hat-spec §5), as a pure core.

The core knows nothing about supernets or predictor files: it takes

* `fitness(configs) -> losses` (lower is better; HAT: the inherited loss, the
  validation loss with the supernet's weights), and
* `latency_ms(configs) -> predicted ms` (HAT: the latency predictor),

both called with a *batch* of `SubConfig`s. Conventions (spec §5):

* A candidate is a gene: one value per position of `space.gene_choices()` (40 for 6+6 layers);
  positions past the active layer count are junk that is carried along and inherited.
* Feasible means `latency_ms(config) <= budget_ms`; infeasible candidates are rejected and
  redrawn (initial population, each mutation, each crossover), at most `max_draws` times per batch.
* Each generation scores the whole population (identical configs are scored once over the whole
  search: the fitness cache is keyed by the junk-free `SubConfig`), keeps the `parents` best
  (stable sort, ties by population order), and, except after the last generation, breeds
  `mutations` mutants (one parent picked with replacement, each gene redrawn from its full
  choice list with probability `mutation_prob`) and `crossovers` children (two distinct parents,
  each gene from either with probability 0.5). The answer is the best of the last generation.
* All randomness comes from one `random.Random(seed)`: same inputs + seed -> same result.
* With a `state_path`, the state (population, RNG state, fitness cache, log) is written
  atomically after every generation; a rerun with the same inputs continues from it and ends
  with the same result as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hat.errors import HatError
from hat.io import write_text_atomic
from hat.space import DesignSpace, SubConfig

Gene = list[int]
ConfigsFn = Callable[[list[SubConfig]], Sequence[float]]

STATE_VERSION = 1


@dataclass(frozen=True)
class SearchSettings:
    """HAT's evo-search settings (spec §5: all 8 evo YAMLs use these defaults)."""

    population: int = 125
    parents: int = 25
    mutations: int = 50
    crossovers: int = 50
    mutation_prob: float = 0.3
    iterations: int = 30
    seed: int = 1
    max_draws: int = 100_000  # rejection-sampling draws allowed per batch of offspring

    @classmethod
    def for_population(
        cls,
        population: int,
        parents: int | None = None,
        mutations: int | None = None,
        crossovers: int | None = None,
        **rest: Any,
    ) -> SearchSettings:
        """Settings for any population size, split 1 : 2 : 2 as HAT's 25 : 50 : 50 unless given:
        parents population/5 (at least 2), mutations half of the rest, crossovers the remainder."""
        parents = parents if parents is not None else max(2, round(population / 5))
        mutations = mutations if mutations is not None else (population - parents) // 2
        crossovers = crossovers if crossovers is not None else population - parents - mutations
        return cls(population=population, parents=parents, mutations=mutations, crossovers=crossovers, **rest)

    def check(self) -> None:
        """One-line HatError naming the first inconsistent setting."""
        for name in ("population", "parents", "iterations", "max_draws"):
            if getattr(self, name) < 1:
                raise HatError(f"search setting {name} must be >= 1, got {getattr(self, name)}")
        for name in ("mutations", "crossovers"):
            if getattr(self, name) < 0:
                raise HatError(f"search setting {name} must be >= 0, got {getattr(self, name)}")
        if self.parents + self.mutations + self.crossovers != self.population:
            raise HatError(
                f"search settings: population {self.population} != parents {self.parents} "
                f"+ mutations {self.mutations} + crossovers {self.crossovers}"
            )
        if self.crossovers and self.parents < 2:
            raise HatError(f"search settings: crossovers need at least 2 parents, got {self.parents}")
        if not 0.0 <= self.mutation_prob <= 1.0:
            raise HatError(f"search setting mutation_prob must lie in [0, 1], got {self.mutation_prob}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class GenerationLog:
    """One row of `search_log.csv`; `evaluations` counts distinct configs scored so far."""

    generation: int
    best_fitness: float
    mean_fitness: float
    best_predicted_ms: float
    evaluations: int
    seconds: float


LOG_COLUMNS = tuple(field.name for field in dataclasses.fields(GenerationLog))


@dataclass(frozen=True)
class SearchResult:
    best: SubConfig
    best_fitness: float
    best_predicted_ms: float
    log: list[GenerationLog]
    population: list[SubConfig]  # the last scored population, best first
    population_fitness: list[float]
    population_predicted_ms: list[float]
    evaluations: int
    resumed_generations: int  # generations taken from the state file (0: a fresh search)


# --------------------------------------------------------------------------------------------
# Budget range


@dataclass(frozen=True)
class LatencyRange:
    fastest_ms: float
    slowest_ms: float

    def __str__(self) -> str:
        return f"{self.fastest_ms:.4g}-{self.slowest_ms:.4g} ms"


def predicted_range(space: DesignSpace, latency_ms: ConfigsFn, samples: int = 2000, seed: int = 0) -> LatencyRange:
    """Min and max predicted latency over the space's extremes plus `samples` uniform genes.

    The extremes alone (`smallest(-1)`, `largest(2)`) are exact only for a predictor that is
    monotone in every feature; an MLP need not be, so a fixed-seed random sample (its own RNG,
    the search's is untouched) covers the rest of the space."""
    rng = random.Random(seed)
    configs = [space.smallest(arbitrary=a) for a in space.decoder_arbitrary_ende_attn_choice]
    configs += [space.largest(arbitrary=a) for a in space.decoder_arbitrary_ende_attn_choice]
    configs += [space.config_from_gene(space.random_gene(rng)) for _ in range(samples)]
    predicted = [float(ms) for ms in latency_ms(configs)]
    return LatencyRange(min(predicted), max(predicted))


def relative_budget(achievable: LatencyRange, pct: float) -> float:
    """The budget `pct` % of the way from the fastest to the slowest predicted SubTransformer."""
    if not 0 < pct < 100:
        raise HatError(f"--latency-budget-pct must be in (0, 100) (0 = fastest, 100 = slowest), got {pct:g}")
    return achievable.fastest_ms + pct / 100 * (achievable.slowest_ms - achievable.fastest_ms)


def check_budget(space: DesignSpace, latency_ms: ConfigsFn, budget_ms: float) -> LatencyRange:
    """HatError unless some but not all SubTransformers fit the budget (spec §5, issue #6 req. 3)."""
    achievable = predicted_range(space, latency_ms)
    if budget_ms < achievable.fastest_ms:
        raise HatError(
            f"latency budget {budget_ms:g} ms is below the fastest SubTransformer's predicted "
            f"{achievable.fastest_ms:.4g} ms (achievable: {achievable})"
        )
    if budget_ms >= achievable.slowest_ms:
        raise HatError(
            f"latency budget {budget_ms:g} ms does not constrain the search: the slowest SubTransformer "
            f"is predicted at {achievable.slowest_ms:.4g} ms (achievable: {achievable})"
        )
    return achievable


# --------------------------------------------------------------------------------------------
# The search


class Evolution:
    """Population, caches and RNG of one search; `run` is HAT's loop (spec §5)."""

    def __init__(
        self,
        space: DesignSpace,
        fitness: ConfigsFn,
        latency_ms: ConfigsFn,
        budget_ms: float,
        settings: SearchSettings,
    ) -> None:
        self.space = space
        self.choices = space.gene_choices()
        self.fitness = fitness
        self.latency_ms = latency_ms
        self.budget_ms = budget_ms
        self.settings = settings
        self.rng = random.Random(settings.seed)
        self.fitness_cache: dict[SubConfig, float] = {}
        self.latency_cache: dict[SubConfig, float] = {}

    # ---- batched, cached oracle calls ----------------------------------------------------

    def predicted_ms(self, genes: Sequence[Gene]) -> list[float]:
        configs = [self.space.config_from_gene(gene) for gene in genes]
        _fill_cache(self.latency_cache, configs, self.latency_ms)
        return [self.latency_cache[config] for config in configs]

    def scores(self, genes: Sequence[Gene]) -> list[float]:
        configs = [self.space.config_from_gene(gene) for gene in genes]
        _fill_cache(self.fitness_cache, configs, self.fitness)
        return [self.fitness_cache[config] for config in configs]

    def rank(self, population: list[Gene]) -> tuple[list[Gene], list[float]]:
        """The population sorted by loss, best first (stable: ties keep population order)."""
        losses = self.scores(population)
        order = sorted(range(len(population)), key=losses.__getitem__)
        return [population[i] for i in order], [losses[i] for i in order]

    # ---- candidates ----------------------------------------------------------------------

    def draw_feasible(self, draw: Callable[[], Gene], count: int, what: str) -> list[Gene]:
        """`count` genes from `draw()` whose predicted latency fits the budget, in draw order.

        Candidates are drawn in batches so the predictor sees one call per batch; accepting the
        feasible ones in order is the same distribution as HAT's one-at-a-time redraw."""
        accepted: list[Gene] = []
        drawn = 0
        while len(accepted) < count:
            if drawn >= self.settings.max_draws:
                raise HatError(
                    f"found only {len(accepted)} of {count} {what} within the {self.budget_ms:g} ms budget "
                    f"after {drawn} draws (max_draws); raise the budget"
                )
            batch = [draw() for _ in range(min(max(count - len(accepted), 16), self.settings.max_draws - drawn))]
            drawn += len(batch)
            for gene, ms in zip(batch, self.predicted_ms(batch), strict=True):
                if ms <= self.budget_ms and len(accepted) < count:
                    accepted.append(gene)
        return accepted

    def random_gene(self) -> Gene:
        return self.space.random_gene(self.rng)

    def mutate(self, parents: Sequence[Gene]) -> Gene:
        parent = parents[self.rng.randrange(len(parents))]
        return [
            self.rng.choice(choices) if self.rng.random() < self.settings.mutation_prob else value
            for value, choices in zip(parent, self.choices, strict=True)
        ]

    def crossover(self, parents: Sequence[Gene]) -> Gene:
        first, second = self.rng.sample(range(len(parents)), 2)
        return [a if self.rng.random() < 0.5 else b for a, b in zip(parents[first], parents[second], strict=True)]

    def next_population(self, parents: list[Gene]) -> list[Gene]:
        mutants = self.draw_feasible(lambda: self.mutate(parents), self.settings.mutations, "mutations")
        children = self.draw_feasible(lambda: self.crossover(parents), self.settings.crossovers, "crossovers")
        return parents + mutants + children

    # ---- state file ----------------------------------------------------------------------

    def state(self, generation: int, population: list[Gene], log: list[GenerationLog], fingerprint: str) -> dict:
        version, internal, gauss_next = self.rng.getstate()
        return {
            "version": STATE_VERSION,
            "fingerprint": fingerprint,
            "generations_done": generation,
            "population": population,
            "rng": [version, list(internal), gauss_next],
            "fitness_cache": [[self.space.gene_from_config(c), loss] for c, loss in self.fitness_cache.items()],
            "log": [dataclasses.asdict(row) for row in log],
        }

    def restore(self, state: dict) -> tuple[int, list[Gene], list[GenerationLog]]:
        version, internal, gauss_next = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss_next))
        self.fitness_cache = {self.space.config_from_gene(gene): loss for gene, loss in state["fitness_cache"]}
        log = [GenerationLog(**row) for row in state["log"]]
        return state["generations_done"], state["population"], log

    # ---- HAT's loop ----------------------------------------------------------------------

    def run(
        self,
        state_path: Path | None,
        fingerprint: str,
        on_generation: Callable[[GenerationLog], None] | None,
    ) -> SearchResult:
        settings = self.settings
        saved = _read_state(state_path, fingerprint)
        if saved is not None:
            done, population, log = self.restore(saved)
        else:
            done, log = 0, []
            population = self.draw_feasible(self.random_gene, settings.population, "initial candidates")
        resumed = done
        for generation in range(done, settings.iterations):
            started = time.perf_counter()
            ranked, ranked_losses = self.rank(population)
            row = GenerationLog(
                generation=generation + 1,
                best_fitness=ranked_losses[0],
                mean_fitness=math.fsum(ranked_losses) / len(ranked_losses),
                best_predicted_ms=self.predicted_ms(ranked[:1])[0],
                evaluations=len(self.fitness_cache),
                seconds=0.0,
            )
            if generation + 1 == settings.iterations:  # HAT's last offspring are never scored: skip them
                population = ranked
            else:
                population = self.next_population(ranked[: settings.parents])
            row = dataclasses.replace(row, seconds=time.perf_counter() - started)
            log.append(row)
            if state_path is not None:
                _write_state(state_path, self.state(generation + 1, population, log, fingerprint))
            if on_generation is not None:
                on_generation(row)
        final = population  # ranked by the last generation's scores
        final_losses = self.scores(final)
        return SearchResult(
            best=self.space.config_from_gene(final[0]),
            best_fitness=final_losses[0],
            best_predicted_ms=self.predicted_ms(final[:1])[0],
            log=log,
            population=[self.space.config_from_gene(gene) for gene in final],
            population_fitness=final_losses,
            population_predicted_ms=self.predicted_ms(final),
            evaluations=len(self.fitness_cache),
            resumed_generations=resumed,
        )


def _fill_cache(cache: dict[SubConfig, float], configs: list[SubConfig], oracle: ConfigsFn) -> None:
    """Call `oracle` once on the distinct configs missing from `cache` (first-seen order)."""
    missing = list(dict.fromkeys(config for config in configs if config not in cache))
    if not missing:
        return
    values = [float(value) for value in oracle(missing)]
    if len(values) != len(missing):
        raise HatError(f"{oracle!r} returned {len(values)} values for {len(missing)} SubTransformers")
    cache.update(zip(missing, values, strict=True))


def _read_state(state_path: Path | None, fingerprint: str) -> dict | None:
    """The saved state, or None when there is none or it belongs to another search."""
    if state_path is None or not state_path.is_file():
        return None
    try:
        state = json.loads(state_path.read_text())
    except json.JSONDecodeError:
        return None  # written atomically, so only a foreign file can be corrupt: start afresh
    if state.get("version") != STATE_VERSION or state.get("fingerprint") != fingerprint:
        return None
    return state


def _write_state(state_path: Path, state: dict) -> None:
    write_text_atomic(state_path, json.dumps(state, separators=(",", ":")))


def search_fingerprint(space: DesignSpace, budget_ms: float, settings: SearchSettings, inputs: dict) -> str:
    """What a state file must match to be resumed: space, budget, settings and caller's inputs."""
    return json.dumps(
        {"space": space.to_hat_dict(), "budget_ms": budget_ms, "settings": settings.to_dict(), "inputs": inputs},
        sort_keys=True,
    )


def evolve(
    space: DesignSpace,
    fitness: ConfigsFn,
    latency_ms: ConfigsFn,
    budget_ms: float,
    settings: SearchSettings = SearchSettings(),
    state_path: str | Path | None = None,
    inputs: dict | None = None,
    on_generation: Callable[[GenerationLog], None] | None = None,
) -> SearchResult:
    """Run HAT's evolutionary search (see the module docstring for the conventions).

    `inputs` identifies what `fitness`/`latency_ms` stand for (e.g. checkpoint and predictor
    hashes); a state file is resumed only when it was written for the same space, budget,
    settings and inputs, and is otherwise overwritten by a fresh search."""
    settings.check()
    fingerprint = search_fingerprint(space, budget_ms, settings, inputs or {})
    evolution = Evolution(space, fitness, latency_ms, budget_ms, settings)
    return evolution.run(None if state_path is None else Path(state_path), fingerprint, on_generation)


def random_search(
    space: DesignSpace,
    fitness: ConfigsFn,
    latency_ms: ConfigsFn,
    budget_ms: float,
    evaluations: int,
    seed: int = 1,
    max_draws: int = 100_000,
) -> tuple[SubConfig, float]:
    """Baseline of paper Fig. 9: the best of `evaluations` distinct uniform feasible configs."""
    evolution = Evolution(space, fitness, latency_ms, budget_ms, SearchSettings(seed=seed, max_draws=max_draws))
    distinct: dict[SubConfig, Gene] = {}
    while len(distinct) < evaluations:
        before = len(distinct)
        for gene in evolution.draw_feasible(evolution.random_gene, evaluations - len(distinct), "random samples"):
            distinct.setdefault(space.config_from_gene(gene), gene)
        if len(distinct) == before:
            raise HatError(f"random search: only {before} distinct feasible SubTransformers found, {evaluations} asked")
    genes = list(distinct.values())[:evaluations]
    losses = evolution.scores(genes)
    best = min(range(len(genes)), key=losses.__getitem__)
    return space.config_from_gene(genes[best]), losses[best]
