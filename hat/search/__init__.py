"""Evolutionary search under a latency constraint (hat-spec §5, issue #6).

`evolution` is the pure algorithm (fitness and latency are plain functions of SubConfig batches);
`run` wires it to a supernet, a predictor file and the latency measurement for `hat search`;
`report` writes the YAML, sidecar JSON, log CSV and plot.
"""

from hat.search.evolution import (
    LOG_COLUMNS,
    GenerationLog,
    LatencyRange,
    SearchResult,
    SearchSettings,
    check_budget,
    evolve,
    predicted_range,
    random_search,
)

__all__ = [
    "LOG_COLUMNS",
    "GenerationLog",
    "LatencyRange",
    "SearchResult",
    "SearchSettings",
    "check_budget",
    "evolve",
    "predicted_range",
    "random_search",
]
