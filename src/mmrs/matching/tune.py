"""Threshold tuning on validation groups: grid search and coordinate ascent.

The objective is an F1 of :func:`~mmrs.matching.threshold.predict` on the validation
listings: ``"shopee"``, the mean per-listing F1 with the listing itself in both sets
(:func:`~mmrs.matching.f1.match_scores`, right where groups dominate), or ``"pair"``, the
pair-level F1 over predicted cross-listing pairs (:func:`~mmrs.matching.pairs.pair_scores`, right
where most listings have no partner: there self-only already scores a high Shopee F1 but pair
F1 0). One threshold is tuned by a full grid search; several (one per view of a union, plus
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
from .pairs import pair_scores
from .setting import one_to_one
from .threshold import predict

OBJECTIVES = {"shopee": match_scores, "pair": pair_scores}
"""Tuning objectives by name: a function (matches, groups) → dict with ``"f1"``."""

THRESHOLD_GRID = tuple(np.round(np.arange(0.0, 1.001, 0.02), 2))
RELAXED_OFFSETS = (0.0, 0.05, 0.1, 0.2, 0.3, np.inf)
"""min2's relaxed threshold is tuned as ``t₂ = max(thresholds) + offset``."""


@dataclass(frozen=True)
class MatchConfig:
    """Everything :func:`predict` needs besides the neighbours."""

    thresholds: dict[str, float]
    min2_view: str | None = None
    relaxed_offset: float = np.inf
    one_to_one: bool = False
    """Keep at most one partner per listing (greedy, :func:`mmrs.matching.setting.one_to_one`)."""

    @property
    def relaxed(self) -> float:
        return max(self.thresholds.values()) + self.relaxed_offset

    def predict(self, neighbours: Mapping[str, Neighbours]):
        """The capped match matrix of this configuration (one-to-one when set)."""
        m = predict(neighbours, self.thresholds, self.min2_view, self.relaxed)
        return one_to_one(m) if self.one_to_one else m

    def as_dict(self) -> dict:
        return {
            "thresholds": {k: float(v) for k, v in self.thresholds.items()},
            "min2_view": self.min2_view,
            "relaxed_offset": float(self.relaxed_offset)
            if np.isfinite(self.relaxed_offset)
            else "inf",
            "one_to_one": self.one_to_one,
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
    config: MatchConfig,
    neighbours: Mapping[str, Neighbours],
    groups: np.ndarray,
    objective: str = "shopee",
) -> dict[str, float]:
    """F1, precision and recall of ``config`` against ``groups`` (``objective``: see above)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {sorted(OBJECTIVES)}")
    return OBJECTIVES[objective](config.predict(neighbours), groups)


def tune(
    neighbours: Mapping[str, Neighbours],
    groups: np.ndarray,
    start: MatchConfig,
    grid: Sequence[float] = THRESHOLD_GRID,
    relaxed_offsets: Sequence[float] = RELAXED_OFFSETS,
    max_rounds: int = 3,
    objective: str = "shopee",
) -> TuneResult:
    """Coordinate ascent on validation F1 from ``start`` over each view's threshold grid
    (and the relaxed offset when ``start.min2_view`` is set)."""
    if max_rounds < 1:
        raise ValueError("max_rounds must be >= 1")
    best = start
    best_scores = evaluate(best, neighbours, groups, objective)
    history: list[dict] = []
    params = list(start.thresholds) + (["relaxed_offset"] if start.min2_view else [])
    for rnd in range(max_rounds):
        improved = False
        for param in params:
            values = relaxed_offsets if param == "relaxed_offset" else grid
            for value in values:
                cand = _with(best, param, float(value))
                s = evaluate(cand, neighbours, groups, objective)
                history.append({"round": rnd, "param": param, "value": float(value), **s})
                if s["f1"] > best_scores["f1"] + 1e-12:
                    best, best_scores, improved = cand, s, True
        if not improved or len(params) == 1:
            break
    return TuneResult(best, best_scores, history)


def _with(config: MatchConfig, param: str, value: float) -> MatchConfig:
    if param == "relaxed_offset":
        return MatchConfig(dict(config.thresholds), config.min2_view, value, config.one_to_one)
    return MatchConfig(
        {**config.thresholds, param: value}, config.min2_view, config.relaxed_offset,
        config.one_to_one,
    )
