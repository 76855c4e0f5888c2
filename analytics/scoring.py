"""Score findings against ground-truth labels: precision, recall and F1 per fault kind, and the
error of the waste estimates.

A label and a finding match when they concern the same point and their time spans overlap.
Each finding matches at most one label of its kind and vice versa.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Event:
    """A labelled fault or a finding, reduced to what matching needs (times in µs)."""

    kind: str
    point: str
    start_us: int
    end_us: int
    waste: float = 0.0


@dataclass(frozen=True, slots=True)
class Score:
    kind: str
    labels: int
    findings: int
    matched: int
    precision: float
    recall: float
    f1: float
    waste_error: float  # median |estimate − truth| / truth over matched wasteful labels; NaN


def _overlaps(events: Sequence[Event]) -> int:
    """How many events overlap an earlier one on the same point (counted once)."""
    extra = 0
    last_end: dict[str, int] = {}
    for e in sorted(events, key=lambda e: (e.point, e.start_us)):
        if e.start_us < last_end.get(e.point, -(1 << 62)):
            extra += 1
        last_end[e.point] = max(last_end.get(e.point, -(1 << 62)), e.end_us)
    return extra


def score(
    labels: Sequence[Event], findings: Sequence[Event], rule_of: Mapping[str, str]
) -> dict[str, Score]:
    """Per label kind: how many findings of its rule (``rule_of[kind]``) match it."""
    out = {}
    for kind in sorted(
        {e.kind for e in labels}
        | {k for k, r in rule_of.items() if any(f.kind == r for f in findings)}
    ):
        rule = rule_of.get(kind, kind)
        truth = [e for e in labels if e.kind == kind]
        found = [f for f in findings if f.kind == rule]
        used: set[int] = set()
        errors = []
        matched = 0
        for lab in truth:
            hits = [
                i
                for i, f in enumerate(found)
                if i not in used
                and f.point == lab.point
                and f.start_us < lab.end_us
                and lab.start_us < f.end_us
            ]
            if not hits:
                continue
            matched += 1
            used.update(hits)  # one fault may show as several runs
            estimate = sum(found[i].waste for i in hits)
            if lab.waste > 0:
                errors.append(abs(estimate - lab.waste) / lab.waste)
        # Runs that answer one fault count once; so do overlapping runs on one point.
        n_found = (
            len(found)
            - (len(used) - matched)
            - _overlaps([f for i, f in enumerate(found) if i not in used])
        )
        precision = matched / n_found if n_found else (1.0 if not truth else 0.0)
        recall = matched / len(truth) if truth else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[kind] = Score(
            kind,
            len(truth),
            n_found,
            matched,
            precision,
            recall,
            f1,
            float(np.median(errors)) if errors else float("nan"),
        )
    return out
