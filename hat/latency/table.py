"""Latency CSVs: HAT's 14 columns first (spec §3.6), then this project's extras.

HAT's tools read our files (they index the first 14 columns) and we read theirs (the extras are
optional). Extras, in order:
- `subtransformer`: the row's SubConfig as compact JSON of `SubConfig.to_hat_dict()`;
- `timestamp`: Unix time (s) at which the row was measured;
- `drift_flag`: 1 if the drift guard could not confirm the device state around the row, else 0.

Latencies are milliseconds; the predictor's target is `latency_mean_encoder + latency_mean_decoder`.
Rows are numbered from 1 (the header is not a row), so "row 3" is the fourth line of the file.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from hat.errors import HatError
from hat.io import text_errors
from hat.space import FEATURE_NAMES, DesignSpace, SubConfig, encoder_layers_attended, hat_features

LATENCY_COLUMNS = ("latency_mean_encoder", "latency_mean_decoder", "latency_std_encoder", "latency_std_decoder")
HAT_COLUMNS = FEATURE_NAMES + LATENCY_COLUMNS
EXTRA_COLUMNS = ("subtransformer", "timestamp", "drift_flag")
ALL_COLUMNS = HAT_COLUMNS + EXTRA_COLUMNS

FEATURE_TOLERANCE = 1e-6  # features recomputed from `subtransformer` must match to this (relative)


@dataclass(frozen=True)
class LatencyRow:
    """One measured (or, for prediction inputs, unmeasured) SubTransformer."""

    features: tuple[float, ...]  # the 10 HAT features, FEATURE_NAMES order
    encoder_ms: float | None = None
    decoder_ms: float | None = None
    encoder_std_ms: float | None = None
    decoder_std_ms: float | None = None
    config: SubConfig | None = None
    timestamp: float | None = None
    drift_flag: int | None = None

    @property
    def total_ms(self) -> float:
        """HAT's target: mean encoder + mean decoder latency (spec §3.4)."""
        return self.encoder_ms + self.decoder_ms

    def to_csv_row(self) -> list[str]:
        """All columns as text: floats with `repr` (full precision, as HAT's `str()`)."""
        values = [*self.features, self.encoder_ms, self.decoder_ms, self.encoder_std_ms, self.decoder_std_ms]
        cells = [_format_number(v) for v in values]
        cells.append(config_to_json(self.config) if self.config else "")
        cells.append(repr(self.timestamp) if self.timestamp is not None else "")
        cells.append(str(self.drift_flag) if self.drift_flag is not None else "")
        return cells


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def config_to_json(config: SubConfig) -> str:
    return json.dumps(config.to_hat_dict(), separators=(",", ":"))


def row_from_config(config: SubConfig, **measured) -> LatencyRow:
    return LatencyRow(features=tuple(float(f) for f in hat_features(config)), config=config, **measured)


# --------------------------------------------------------------------------------------------
# Writing: a header once, then one complete line per row, flushed to disk.


def write_header(stream: TextIO) -> None:
    csv.writer(stream, lineterminator="\n").writerow(ALL_COLUMNS)


def append_rows(stream: TextIO, rows: Iterable[LatencyRow]) -> None:
    """Append whole lines and fsync, so a SIGKILL leaves only complete rows (or one torn tail line)."""
    writer = csv.writer(stream, lineterminator="\n")
    for row in rows:
        writer.writerow(row.to_csv_row())
    stream.flush()
    os.fsync(stream.fileno())


def write_latency_csv(path: str | os.PathLike, rows: Iterable[LatencyRow]) -> None:
    from hat.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as stream:
        write_header(stream)
        append_rows(stream, rows)


# --------------------------------------------------------------------------------------------
# Reading with validation: every problem is one line naming file, row and column.


def read_header(path: Path, require_latency: bool) -> list[str]:
    with text_errors(path), open(path, newline="", encoding="utf-8") as stream:
        header = next(csv.reader(stream), None)
    if not header:
        raise HatError(f"{path}: empty file (expected a header with {', '.join(HAT_COLUMNS)})")
    check_header(header, path, require_latency)
    return header


def check_header(header: list[str], path: Path, require_latency: bool) -> None:
    required = HAT_COLUMNS if require_latency else FEATURE_NAMES
    missing = [c for c in required if c not in header]
    if missing:
        raise HatError(f"{path}: missing column '{missing[0]}'")
    unknown = [c for c in header if c not in ALL_COLUMNS]
    if unknown:
        raise HatError(f"{path}: unexpected column '{unknown[0]}' (allowed: {', '.join(ALL_COLUMNS)})")
    duplicated = [c for c in header if header.count(c) > 1]
    if duplicated:
        raise HatError(f"{path}: column '{duplicated[0]}' appears twice")
    has_some_latency = any(c in header for c in LATENCY_COLUMNS)
    if has_some_latency and not all(c in header for c in LATENCY_COLUMNS):
        absent = next(c for c in LATENCY_COLUMNS if c not in header)
        raise HatError(f"{path}: missing column '{absent}'")


def read_latency_csv(
    path: str | os.PathLike,
    *,
    require_latency: bool = True,
    space: DesignSpace | None = None,
    min_rows: int = 1,
) -> list[LatencyRow]:
    """Read and validate a latency CSV (ours or HAT's).

    `require_latency=False` accepts feature-only files (inputs to `hat predictor predict`).
    With `space`, every row must describe a SubTransformer of that space: its `subtransformer`
    config when present (which must also agree with the 10 features), else the features' ranges.
    """
    path = Path(path)
    if not path.is_file():
        raise HatError(f"{path}: file not found")
    header = read_header(path, require_latency)
    rows = []
    with text_errors(path), open(path, newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        next(reader)
        for number, cells in enumerate(reader, start=1):
            if len(cells) != len(header):
                raise HatError(f"{path}: row {number} has {len(cells)} cells, expected {len(header)}")
            rows.append(_parse_row(dict(zip(header, cells)), f"{path}: row {number}", space))
    if len(rows) < min_rows:
        raise HatError(f"{path}: {len(rows)} rows, at least {min_rows} needed")
    return rows


def _parse_row(cells: dict[str, str], where: str, space: DesignSpace | None) -> LatencyRow:
    features = tuple(_number(cells, name, where, positive=True) for name in FEATURE_NAMES)
    measured = {}
    if "latency_mean_encoder" in cells:
        measured = {
            "encoder_ms": _number(cells, "latency_mean_encoder", where, positive=True),
            "decoder_ms": _number(cells, "latency_mean_decoder", where, positive=True),
            "encoder_std_ms": _number(cells, "latency_std_encoder", where, positive=False),
            "decoder_std_ms": _number(cells, "latency_std_decoder", where, positive=False),
        }
    config = _config(cells, where)
    if config is not None:
        _check_features_match(config, features, where)
    if space is not None:
        if config is not None:
            space.validate(config, source=f"{where} column subtransformer")
        else:
            check_features_in_space(features, space, where)
    timestamp = _number(cells, "timestamp", where, positive=True) if cells.get("timestamp") else None
    drift_flag = _flag(cells, where) if cells.get("drift_flag") else None
    return LatencyRow(features, config=config, timestamp=timestamp, drift_flag=drift_flag, **measured)


def _number(cells: dict[str, str], column: str, where: str, positive: bool) -> float:
    text = cells[column]
    try:
        value = float(text)
    except ValueError:
        raise HatError(f"{where} column {column}: not a number ({text!r})") from None
    if not math.isfinite(value):
        raise HatError(f"{where} column {column}: {text} is not a finite number")
    if value < 0 or (positive and value == 0):
        raise HatError(f"{where} column {column}: {text} must be {'positive' if positive else 'non-negative'}")
    return value


def _flag(cells: dict[str, str], where: str) -> int:
    if cells["drift_flag"] not in ("0", "1"):
        raise HatError(f"{where} column drift_flag: expected 0 or 1, got {cells['drift_flag']!r}")
    return int(cells["drift_flag"])


def _config(cells: dict[str, str], where: str) -> SubConfig | None:
    text = cells.get("subtransformer", "")
    if not text:
        return None
    source = f"{where} column subtransformer"
    try:
        values = json.loads(text)
    except json.JSONDecodeError as err:
        raise HatError(f"{source}: not valid JSON ({err.msg})") from None
    if not isinstance(values, dict):
        raise HatError(f"{source}: expected a JSON object of HAT's subtransformer keys")
    return SubConfig.from_hat_dict(values, source=source)


def _check_features_match(config: SubConfig, features: tuple[float, ...], where: str) -> None:
    for name, expected, got in zip(FEATURE_NAMES, hat_features(config), features):
        if abs(expected - got) > FEATURE_TOLERANCE * max(1.0, abs(expected)):
            raise HatError(f"{where} column {name}: {got} disagrees with the subtransformer config ({expected})")


def check_features_in_space(features: tuple[float, ...], space: DesignSpace, where: str) -> None:
    """Without per-layer configs, check each feature against the range its choices allow."""
    for name, value in zip(FEATURE_NAMES, features):
        choices = _feature_choices(name, space)
        exact = not name.endswith("_avg")
        if (exact and value not in choices) or not (min(choices) <= value <= max(choices)):
            allowed = list(choices) if exact else f"[{min(choices)}, {max(choices)}]"
            raise HatError(f"{where} column {name}: {value:g} is outside space {space.name} (allowed: {allowed})")


def _feature_choices(name: str, space: DesignSpace) -> tuple[float, ...]:
    field = name.removesuffix("_avg")
    if field == "decoder_arbitrary_ende_attn":
        return tuple(encoder_layers_attended(a) for a in space.decoder_arbitrary_ende_attn_choice)
    return tuple(float(c) for c in space.choices_for(field))
