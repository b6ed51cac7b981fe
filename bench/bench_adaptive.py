"""Adaptive dataset size and calibrated upper bounds on HAT's 8 published CSVs (issue #17).

Per set and split seed (held-out 20 %, `heldout_split`): the default predictor fitted on all 1600
training rows, against the same fitted on the rows `--samples auto`'s stop rule would have recorded
(`hat.latency.adaptive.StopRule`, accuracy = `hat.predictor.run.learning_point`), the training
rows taken (a) in a seeded random order, (b) in recording order (file order: HAT's early rows sit
in drifted stretches) and (c) in recording order with the rows of drifted blocks flagged, as the
drift guard would (`guarded`: the stop rule and the fit see only the steady rows; `rows` counts all
recorded). Prints the ±10 % share on the held-out rows (all of them) and rows used.
Then the coverage of the 90 % upper bound (`hat.predictor.interval`, scores cross-fitted on the
1600 training rows) on the held-out rows: all, those in drifted blocks (`bench_predictor.slow_block_rows`)
and the rest.

    .venv/bin/python bench/bench_adaptive.py [--splits K]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from bench_predictor import LABELS, load_sets

from hat.latency.adaptive import StopRule
from hat.predictor import Predictor, fit_predictor, heldout_split, latency_metrics
from hat.predictor.interval import conformal_scores, upper_factor
from hat.predictor.run import learning_point, out_of_fold_ms


def within_10(features, target_ms, fit_rows, heldout) -> float:
    predictor = Predictor(fit_predictor(features[fit_rows], target_ms[fit_rows], "cost", 0, ""))
    return latency_metrics(target_ms[heldout], predictor.predict_features(features[heldout]))["within_10_pct"]


def stopped_rows(features, target_ms, pool, rule: StopRule, seed: int, flagged) -> tuple[int, str]:
    """Rows the stop rule records when the device yields the rows of `pool` in that order, the
    rows where `flagged` is set marked as drift-flagged (as the drift guard would)."""
    curve, rows = [], 0
    while True:
        rows = rule.next_rows(rows)
        taken = pool[:rows]
        point = learning_point(features[taken], target_ms[taken], flagged[taken], seed)
        curve.append({"rows": rows, **point})
        reason = rule.stop_reason(curve)
        if reason is not None:
            return rows, reason.split(":")[0]


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
          f"{'guarded':>8} {'rows':>6}   "
          f"{'cover90':>7} {'drifted':>13} {'steady':>7}")  # fmt: skip
    table = []
    for name, (features, target_ms, slow) in sets.items():
        per_split = []
        covered = {"all": [], "slow": [], "steady": []}
        for seed in range(args.splits):
            train, heldout = heldout_split(len(target_ms), seed)
            shuffled = np.random.default_rng(seed).permutation(train)
            none = np.zeros(len(target_ms), dtype=bool)
            random_rows, _ = stopped_rows(features, target_ms, shuffled, rule, seed, none)
            order_rows, _ = stopped_rows(features, target_ms, train, rule, seed, none)
            guarded_rows, _ = stopped_rows(features, target_ms, train, rule, seed, slow)
            guarded = train[:guarded_rows]
            per_split.append([
                within_10(features, target_ms, train, heldout),
                within_10(features, target_ms, shuffled[:random_rows], heldout), random_rows,
                within_10(features, target_ms, train[:order_rows], heldout), order_rows,
                within_10(features, target_ms, guarded[~slow[guarded]], heldout), guarded_rows,
            ])  # fmt: skip
            predictor = Predictor(fit_predictor(features[train], target_ms[train], "cost", seed, ""))
            scores = conformal_scores(target_ms[train], out_of_fold_ms(features, target_ms, train, method="cost",
                                                                       seed=seed, hardware=""))  # fmt: skip
            bound = predictor.predict_features(features[heldout]) * upper_factor(scores, 0.9)
            inside = target_ms[heldout] <= bound
            covered["all"].append(inside.mean())
            covered["slow"].append((inside[slow[heldout]].sum(), slow[heldout].sum()))
            covered["steady"].append(inside[~slow[heldout]].mean())
        full, random_w10, random_n, order_w10, order_n, guarded_w10, guarded_n = np.mean(per_split, axis=0)
        slow_in, slow_all = np.sum(covered["slow"], axis=0)
        slow_text = f"{100 * slow_in / slow_all:5.1f} ({slow_all / args.splits:.0f})" if slow_all else "   - (0)"
        print(f"{LABELS[name]:16} {full:8.1f} {random_w10:7.1f} {random_n:6.0f} {order_w10:8.1f} {order_n:6.0f} "
              f"{guarded_w10:8.1f} {guarded_n:6.0f}   "
              f"{100 * np.mean(covered['all']):7.1f} {slow_text:>13} "
              f"{100 * np.mean(covered['steady']):7.1f}")  # fmt: skip
        table.append([full, random_w10, random_n, order_w10, order_n, guarded_w10, guarded_n])
        table[-1].append(100 * np.mean(covered["all"]))
    full, random_w10, random_n, order_w10, order_n, guarded_w10, guarded_n, cover = np.mean(table, axis=0)
    print(
        f"{'mean of 8':16} {full:8.1f} {random_w10:7.1f} {random_n:6.0f} {order_w10:8.1f} {order_n:6.0f} "
        f"{guarded_w10:8.1f} {guarded_n:6.0f}   {cover:7.1f}"
    )
    print(f"splits: {args.splits}; coverage per set and split: "
          f"min {min(row[-1] for row in table):.1f}, max {max(row[-1] for row in table):.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
