"""Adaptive dataset size and calibrated upper bounds on HAT's 8 published CSVs (issue #17).

Per set and split seed (held-out 20 %, `heldout_split`): the default predictor fitted on all 1600
training rows, against the same fitted on the rows `--samples auto`'s stop rule would have recorded
(`hat.latency.adaptive.StopRule`, accuracy = `hat.predictor.run.learning_point`), the training
rows taken (a) in a seeded random order, (b) in recording order (file order: HAT's early rows sit
in drifted stretches) and (c) in recording order with the rows of drifted blocks flagged, as the
drift guard would (`guarded`: the stop rule and the fit see only the steady rows; `rows` counts all
recorded). Prints the ±10 % share on the held-out rows (all of them) and rows used.
Last, (d) `normalized`: the guarded order on the rows as the live drift guard records them, each
divided by the device's state at its time (`bench_predictor.device_state`, an emulation of the
guard's paired reference runs), against the full fit on the same normalized rows (`norm 1600`);
both scored on the held-out steady rows, normalized.
Then the coverage of the 90 % upper bound (`hat.predictor.interval`, scores cross-fitted on the
1600 training rows) on the held-out rows: all, those in drifted blocks (`bench_predictor.slow_block_rows`)
and the rest; `per split` is that coverage's range over the splits, `cpu s` the set's CPU seconds.
Each split's shared work is done once (`SplitFits`): the in-order and guarded orders share every
round until a drifted row enters the prefix, and the full fit serves the share and the bound.

    .venv/bin/python bench/bench_adaptive.py [--splits K] [--sets I ...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from bench_predictor import LABELS, device_state, load_sets

from hat.latency.adaptive import StopRule
from hat.predictor import Predictor, fit_predictor, heldout_split, latency_metrics
from hat.predictor.interval import conformal_scores, upper_factor
from hat.predictor.run import learning_point, out_of_fold_ms


class SplitFits:
    """One split's fits, each done once: the in-order and guarded orders share every round until a
    drifted row enters the prefix, and the full fit serves both the ±10 % share and the bound."""

    def __init__(self, features, target_ms, seed: int):
        self.features, self.target_ms, self.seed = features, target_ms, seed
        self.predictors: dict[bytes, Predictor] = {}
        self.points: dict[tuple[bytes, bytes], dict] = {}

    def predictor(self, fit_rows) -> Predictor:
        key = np.asarray(fit_rows).tobytes()
        if key not in self.predictors:
            self.predictors[key] = Predictor(fit_predictor(self.features[fit_rows], self.target_ms[fit_rows], "cost",
                                                           self.seed, ""))  # fmt: skip
        return self.predictors[key]

    def within_10(self, fit_rows, heldout) -> float:
        predicted = self.predictor(fit_rows).predict_features(self.features[heldout])
        return latency_metrics(self.target_ms[heldout], predicted)["within_10_pct"]

    def learning_point(self, taken, flagged) -> dict:
        key = (taken.tobytes(), flagged[taken].tobytes())
        if key not in self.points:
            self.points[key] = learning_point(self.features[taken], self.target_ms[taken], flagged[taken], self.seed)
        return self.points[key]


def stopped_rows(fits: SplitFits, pool, rule: StopRule, flagged) -> int:
    """Rows the stop rule records when the device yields the rows of `pool` in that order, the
    rows where `flagged` is set marked as drift-flagged (as the drift guard would)."""
    curve, rows = [], 0
    while True:
        rows = rule.next_rows(rows)
        curve.append({"rows": rows, **fits.learning_point(pool[:rows], flagged)})
        if rule.stop_reason(curve) is not None:
            return rows


def format_figures(means) -> str:
    """One row's shares and row counts, in the header's columns."""
    full, random_w10, random_n, order_w10, order_n, guarded_w10, guarded_n, norm_full, norm_w10, norm_n = means
    return (f"{full:8.1f} {random_w10:7.1f} {random_n:6.0f} {order_w10:8.1f} {order_n:6.0f} {guarded_w10:8.1f} "
            f"{guarded_n:6.0f} {norm_full:9.1f} {norm_w10:10.1f} {norm_n:6.0f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5, help="split seeds 0..K-1")
    parser.add_argument("--sets", type=int, nargs="*", help="only these sets (0-7, in the table's order)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rule = StopRule(ceiling=1600)  # the pool is the 1600 training rows
    sets = load_sets([name for index, name in enumerate(LABELS) if args.sets is None or index in args.sets])
    print(f"stop rule: {rule}")
    print(f"{'set':16} {'all 1600':>8} {'random':>7} {'rows':>6} {'in order':>8} {'rows':>6} "
          f"{'guarded':>8} {'rows':>6} {'norm 1600':>9} {'normalized':>10} {'rows':>6}   "
          f"{'cover90':>7} {'per split':>11} {'drifted':>13} {'steady':>7} {'cpu s':>6}")  # fmt: skip
    table, split_coverages = [], []
    for name, (features, target_ms, slow) in sets.items():
        started = time.process_time()
        normalized_ms = target_ms / device_state(features, target_ms, slow)
        per_split = []
        covered = {"all": [], "slow": [], "steady": []}
        for seed in range(args.splits):
            train, heldout = heldout_split(len(target_ms), seed)
            shuffled = np.random.default_rng(seed).permutation(train)
            none = np.zeros(len(target_ms), dtype=bool)
            fits = SplitFits(features, target_ms, seed)
            random_rows = stopped_rows(fits, shuffled, rule, none)
            order_rows = stopped_rows(fits, train, rule, none)
            guarded_rows = stopped_rows(fits, train, rule, slow)
            guarded = train[:guarded_rows]
            normalized_fits = SplitFits(features, normalized_ms, seed)
            normalized_rows = stopped_rows(normalized_fits, train, rule, slow)
            normalized, steady_heldout = train[:normalized_rows], heldout[~slow[heldout]]
            per_split.append([
                fits.within_10(train, heldout),
                fits.within_10(shuffled[:random_rows], heldout), random_rows,
                fits.within_10(train[:order_rows], heldout), order_rows,
                fits.within_10(guarded[~slow[guarded]], heldout), guarded_rows,
                normalized_fits.within_10(train[~slow[train]], steady_heldout),
                normalized_fits.within_10(normalized[~slow[normalized]], steady_heldout), normalized_rows,
            ])  # fmt: skip
            scores = conformal_scores(target_ms[train], out_of_fold_ms(features, target_ms, train, method="cost",
                                                                       seed=seed, hardware=""))  # fmt: skip
            bound = fits.predictor(train).predict_features(features[heldout]) * upper_factor(scores, 0.9)
            inside = target_ms[heldout] <= bound
            covered["all"].append(inside.mean())
            covered["slow"].append((inside[slow[heldout]].sum(), slow[heldout].sum()))
            covered["steady"].append(inside[~slow[heldout]].mean())
        means = np.mean(per_split, axis=0)
        slow_in, slow_all = np.sum(covered["slow"], axis=0)
        slow_text = f"{100 * slow_in / slow_all:5.1f} ({slow_all / args.splits:.0f})" if slow_all else "   - (0)"
        split_coverages += [100 * c for c in covered["all"]]
        spread = f"{100 * min(covered['all']):.1f}-{100 * max(covered['all']):.1f}"
        print(f"{LABELS[name]:16} {format_figures(means)}   "
              f"{100 * np.mean(covered['all']):7.1f} {spread:>11} {slow_text:>13} "
              f"{100 * np.mean(covered['steady']):7.1f} {time.process_time() - started:6.0f}")  # fmt: skip
        table.append([*means, 100 * np.mean(covered["all"])])
    means = np.mean(table, axis=0)
    print(f"{f'mean of {len(table)}':16} {format_figures(means[:-1])}   {means[-1]:7.1f}")
    print(f"splits: {args.splits}; coverage per set (mean of its splits): "
          f"min {min(row[-1] for row in table):.1f}, max {max(row[-1] for row in table):.1f}; "
          f"per set and split: min {min(split_coverages):.1f}, max {max(split_coverages):.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
