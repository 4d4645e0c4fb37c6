"""Threshold tuning on validation groups: grid search and coordinate ascent.

The objective is the mean F1 of :func:`~mmrs.matching.threshold.predict` on the validation
listings. One threshold is tuned by a full grid search; several (one per view of a union, plus
the relaxed ``min2`` threshold) by coordinate ascent — sweep one parameter over its grid with
the others fixed, keep the best, move to the next, and repeat until no sweep improves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .f1 import match_scores
from .knn import Neighbours
from .threshold import predict

THRESHOLD_GRID = tuple(np.round(np.arange(0.0, 1.001, 0.02), 2))
RELAXED_OFFSETS = (0.0, 0.05, 0.1, 0.2, 0.3, np.inf)
"""min2's relaxed threshold is tuned as ``t₂ = max(thresholds) + offset``."""


@dataclass(frozen=True)
class MatchConfig:
    """Everything :func:`predict` needs besides the neighbours."""

    thresholds: dict[str, float]
    min2_view: str | None = None
    relaxed_offset: float = np.inf

    @property
    def relaxed(self) -> float:
        return max(self.thresholds.values()) + self.relaxed_offset

    def predict(self, neighbours: Mapping[str, Neighbours]):
        """The capped match matrix of this configuration."""
        return predict(neighbours, self.thresholds, self.min2_view, self.relaxed)

    def as_dict(self) -> dict:
        return {
            "thresholds": {k: float(v) for k, v in self.thresholds.items()},
            "min2_view": self.min2_view,
            "relaxed_offset": float(self.relaxed_offset)
            if np.isfinite(self.relaxed_offset)
            else "inf",
        }


@dataclass
class TuneResult:
    """Best configuration, its validation scores and every evaluated point."""

    config: MatchConfig
    scores: dict[str, float]
    history: list[dict] = field(default_factory=list)

    def curve(self, view: str) -> pd.DataFrame:
        """Validation F1/P/R against ``view``'s threshold, from the first sweep over it."""
        rows = [h for h in self.history if h["param"] == view]
        if not rows:
            raise KeyError(
                f"{view!r} was not tuned; tuned: {sorted({h['param'] for h in self.history})}"
            )
        first_round = min(h["round"] for h in rows)
        frame = pd.DataFrame([h for h in rows if h["round"] == first_round])
        return frame.set_index("value")[["f1", "precision", "recall"]].sort_index()


def evaluate(
    config: MatchConfig, neighbours: Mapping[str, Neighbours], groups: np.ndarray
) -> dict[str, float]:
    """Mean F1, precision and recall of ``config`` against ``groups``."""
    return match_scores(config.predict(neighbours), groups)


def tune(
    neighbours: Mapping[str, Neighbours],
    groups: np.ndarray,
    start: MatchConfig,
    grid: Sequence[float] = THRESHOLD_GRID,
    relaxed_offsets: Sequence[float] = RELAXED_OFFSETS,
    max_rounds: int = 3,
) -> TuneResult:
    """Coordinate ascent on validation F1 from ``start`` over each view's threshold grid
    (and the relaxed offset when ``start.min2_view`` is set)."""
    if max_rounds < 1:
        raise ValueError("max_rounds must be >= 1")
    best = start
    best_scores = evaluate(best, neighbours, groups)
    history: list[dict] = []
    params = list(start.thresholds) + (["relaxed_offset"] if start.min2_view else [])
    for rnd in range(max_rounds):
        improved = False
        for param in params:
            values = relaxed_offsets if param == "relaxed_offset" else grid
            for value in values:
                cand = _with(best, param, float(value))
                s = evaluate(cand, neighbours, groups)
                history.append({"round": rnd, "param": param, "value": float(value), **s})
                if s["f1"] > best_scores["f1"] + 1e-12:
                    best, best_scores, improved = cand, s, True
        if not improved or len(params) == 1:
            break
    return TuneResult(best, best_scores, history)


def _with(config: MatchConfig, param: str, value: float) -> MatchConfig:
    if param == "relaxed_offset":
        return MatchConfig(dict(config.thresholds), config.min2_view, value)
    return MatchConfig({**config.thresholds, param: value}, config.min2_view, config.relaxed_offset)
