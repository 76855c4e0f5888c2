"""Read Numenta Anomaly Benchmark (NAB) series and label windows from disk.

NAB keeps one ``timestamp,value`` CSV per series under ``data/<category>/<file>.csv`` and the
labelled windows in one JSON object, ``{"<category>/<file>.csv": [[start, end], ...]}``
(``labels/combined_windows.json``). This module only reads; detection lives in
:mod:`analytics.univariate` and scoring in :mod:`analytics.nab`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class NabError(Exception):
    """A NAB file that cannot be read, with the file and the reason."""


@dataclass(frozen=True)
class Series:
    """One labelled series.

    Attributes
    ----------
    name : str
        Its key in the windows file, ``<category>/<file>.csv``.
    times : numpy.ndarray of datetime64[us], shape (samples,)
        Time stamps in file order (NAB's are naive local or UTC times; only their spacing
        and time of day matter here).
    values : numpy.ndarray of float64, shape (samples,)
        Values; NaN where a cell is empty or not a number.
    windows : list of (str, str)
        Labelled windows, both ends included.
    """

    name: str
    times: np.ndarray
    values: np.ndarray
    windows: list[tuple[str, str]]


def read_windows(path: Path) -> dict[str, list[tuple[str, str]]]:
    """The windows file: series key → list of (start, end) time stamps."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NabError(f"{path}: {exc}") from None
    if not isinstance(raw, dict):
        raise NabError(f"{path}: expected an object of series → windows")
    out: dict[str, list[tuple[str, str]]] = {}
    for key, wins in raw.items():
        if not isinstance(wins, list) or not all(isinstance(w, list) and len(w) == 2 for w in wins):
            raise NabError(f"{path}: {key}: windows must be a list of [start, end] pairs")
        out[key] = [(str(a), str(b)) for a, b in wins]
    return out


def read_series(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One ``timestamp,value`` CSV: (times as datetime64[us], values as float64)."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise NabError(f"{path}: {exc}") from None
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["timestamp", "value"]:
        raise NabError(f"{path}: the first line must be 'timestamp,value'")
    body = [r for r in rows[1:] if r]
    try:
        times = np.array([r[0].strip() for r in body], dtype="datetime64[us]")
    except ValueError as exc:
        raise NabError(f"{path}: bad time stamp: {exc}") from None
    values = np.full(len(body), np.nan)
    for i, r in enumerate(body):
        try:
            values[i] = float(r[1]) if len(r) > 1 else np.nan
        except ValueError:
            pass  # an empty or non-numeric cell is a missing value
    return times, values


def load(data_dir: Path, labels: Path) -> tuple[list[Series], list[str]]:
    """Every labelled series found under ``data_dir``, and the keys whose CSV is missing.

    Series are returned in key order; CSVs under ``data_dir`` that the labels do not mention
    are not scored (there is nothing to score them against).
    """
    found: list[Series] = []
    missing: list[str] = []
    for key, wins in sorted(read_windows(labels).items()):
        path = Path(data_dir) / key
        if not path.is_file():
            missing.append(key)
            continue
        times, values = read_series(path)
        found.append(Series(key, times, values, wins))
    return found, missing
