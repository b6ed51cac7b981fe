"""`hat latency dataset --samples auto`: record in rounds until the predictor stops improving (issue #17).

HAT times 2000 SubTransformers per device, but on its 8 published sets about 100–200 clean rows
carry nearly all of a cost predictor's accuracy. So this records `floor` rows, then rounds of
`round_rows`, and after each round asks `accuracy(csv)` how well a predictor does on rows it has
not seen (the CLI passes the default predictor's out-of-fold ±10 % share and MAPE over the steady
rows, `hat.predictor.run.learning_point`). The stop rule (`StopRule.stop_reason`): stop when,
over the last `patience` rounds, the ±10 % share rose by less than `margin_pct` points AND MAPE
fell by less than `mape_margin` of its value; or at `ceiling` rows.

Each round is one call of `record_dataset` on a staging CSV (`OUT.rounds.csv`), which resumes the
previous rounds' rows (the sample sequence is seeded, so the first N samples of a longer run are the
same N) — the drift guard, resume and row format are that function's. The curve so far is kept in
`OUT.rounds.json`, so a killed run resumes mid-curve. At the end the staging CSV becomes OUT and
the sidecar OUT.env.json gets `adaptive`: the rule, the curve (rows → held-out accuracy), the
reason it stopped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hat.errors import HatError
from hat.io import remove_written, write_text_atomic
from hat.latency.dataset import partial_path, record_dataset, sidecar_path

Accuracy = Callable[[Path], dict[str, Any]]  # CSV -> {"within_10_pct", "mape_pct", "steady_rows", ...}


@dataclass(frozen=True)
class StopRule:
    floor: int = 100  # rows of the first round
    round_rows: int = 25  # rows per later round
    ceiling: int = 2000  # HAT's count: never more
    margin_pct: float = 1.0  # a ±10 % share gain below this (points) over `patience` rounds is no gain
    mape_margin: float = 0.05  # a MAPE drop below this share of its value over `patience` rounds is no gain
    patience: int = 2  # rounds

    def check(self) -> None:
        if not 25 <= self.floor <= self.ceiling:
            raise HatError(f"--samples auto: floor {self.floor} must be >= 25 and <= the ceiling {self.ceiling}")
        if self.round_rows < 1:
            raise HatError(f"--samples auto: rows per round must be >= 1, got {self.round_rows}")

    def next_rows(self, rows: int) -> int:
        return self.floor if rows == 0 else min(self.ceiling, rows + self.round_rows)

    def stop_reason(self, curve: list[dict[str, Any]]) -> str | None:
        """Why to stop after the last point of `curve`, or None to record another round."""
        last = curve[-1]
        if last["rows"] >= self.ceiling:
            return f"ceiling: {self.ceiling} rows"
        if len(curve) <= self.patience or last.get("within_10_pct") is None:
            return None
        before = curve[-1 - self.patience]
        if before.get("within_10_pct") is None:
            return None
        gain = last["within_10_pct"] - before["within_10_pct"]
        mape_drop = before["mape_pct"] - last["mape_pct"]
        if gain < self.margin_pct and mape_drop < self.mape_margin * before["mape_pct"]:
            return (
                f"plateau: over the last {self.patience} rounds ({before['rows']} -> {last['rows']} rows) the "
                f"out-of-fold ±10 % share changed by {gain:+.1f} points (< {self.margin_pct:g}) and MAPE by "
                f"{-mape_drop:+.2f} points (a drop < {100 * self.mape_margin:g} % of {before['mape_pct']:.2f})"
            )
        return None


def record_adaptive(out: str | os.PathLike, *, rule: StopRule, accuracy: Accuracy, **record: Any) -> dict[str, Any]:
    """Record OUT in rounds (see the module doc); `record` are `record_dataset`'s keyword arguments
    other than `samples`. Returns the `adaptive` part of the sidecar."""
    rule.check()
    out = Path(out)
    stage, state = out.with_name(out.stem + ".rounds.csv"), out.with_name(out.stem + ".rounds.json")
    curve = json.loads(state.read_text())["curve"] if state.exists() else []
    reason = rule.stop_reason(curve) if curve else None  # not None: killed while finishing
    if reason is None and stage.exists():  # killed between a round's end and the next round's start
        os.replace(stage, partial_path(stage))
    rows = curve[-1]["rows"] if curve else 0
    while reason is None:
        previous, rows = rows, rule.next_rows(rows)
        summary = record_dataset(stage, samples=rows, **record)
        counts = {  # this round's, so the sidecar can total them
            "resumed_rows": summary.resumed_rows - previous,  # after a kill mid-round
            "remeasured_rows": summary.remeasured_rows,
            "flagged_rows": summary.flagged_rows,
        }
        curve.append({"rows": rows, **accuracy(stage), "round": counts})
        write_text_atomic(state, json.dumps({"curve": curve}) + "\n")
        reason = rule.stop_reason(curve)
        if reason is None:
            os.replace(stage, partial_path(stage))  # the next round resumes these rows
    adaptive = {"rule": asdict(rule), "stopped": reason, "rows": rows, "curve": curve}
    if stage.exists():  # else a killed run had moved it onto OUT already, after writing OUT's sidecar
        sidecar = {**json.loads(sidecar_path(stage).read_text()), "csv": out.name, "adaptive": adaptive}
        for count in ("resumed_rows", "remeasured_rows", "flagged_rows"):
            sidecar[count] = sum(point["round"][count] for point in curve)
        write_text_atomic(sidecar_path(out), json.dumps(sidecar, indent=1) + "\n")
        os.replace(stage, out)
    remove_written(sidecar_path(stage))
    remove_written(state)
    return adaptive
