"""Seed statistics for any record kind: mean ± sd over seeds and Student-t intervals of paired
differences, with a verdict word for the chapters' prose.

:func:`mmrs.chapters.tables.seed_summary` and :func:`~mmrs.chapters.tables.paired_difference`
read ``train`` records (``metrics[split][metric]``); the retrieval (Chapter 6) and matching
(Chapter 7) records nest their numbers differently, so the arithmetic lives here on plain
``{seed: value}`` mappings and each chapter's module extracts the values. The interval is
scipy's t quantile; nothing else here needs a library.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

LEVEL = 0.95
"""The default confidence level of the intervals."""


def mean_sd(values: Sequence[float]) -> dict[str, float | int]:
    """``n``, ``mean`` and the sample standard deviation ``sd`` (ddof 1; NaN for one value)."""
    x = np.asarray(values, dtype=float)
    return {"n": len(x), "mean": float(x.mean()),
            "sd": float(x.std(ddof=1)) if len(x) > 1 else float("nan")}


def t_interval(values: Sequence[float], level: float = LEVEL) -> dict[str, float | int]:
    """Student-t interval of the mean of ``values`` (e.g. per-seed differences):
    ``mean ± t_{(1+level)/2, n-1} · sd / sqrt(n)``. Raises ``ValueError`` for fewer than two."""
    from scipy import stats

    if len(values) < 2:
        raise ValueError("an interval needs at least two seeds")
    s = mean_sd(values)
    half = float(stats.t.ppf((1 + level) / 2, s["n"] - 1) * s["sd"] / np.sqrt(s["n"]))
    return {**s, "low": s["mean"] - half, "high": s["mean"] + half, "level": level}


def paired_interval(a: Mapping[int, float], b: Mapping[int, float],
                    level: float = LEVEL) -> dict:
    """Seed-paired difference ``a - b`` (``{seed: value}`` each): :func:`t_interval` of the
    per-seed differences, plus ``seeds`` and ``differences`` in seed order. Raises
    ``ValueError`` when the two do not have the same seeds."""
    if set(a) != set(b):
        raise ValueError(f"unpaired seeds: {sorted(a)} vs {sorted(b)}")
    seeds = sorted(a)
    diffs = [float(a[s]) - float(b[s]) for s in seeds]
    return {**t_interval(diffs, level), "seeds": seeds, "differences": diffs}


def verdict(interval: Mapping[str, float]) -> str:
    """``"positive"`` if the interval lies above 0, ``"negative"`` if below, else
    ``"not resolved"`` (the interval contains 0)."""
    if interval["low"] > 0:
        return "positive"
    if interval["high"] < 0:
        return "negative"
    return "not resolved"


VERDICT_WORDS: dict[str, str] = {
    "positive": "lies above zero", "negative": "lies below zero", "not resolved": "contains zero"}
"""What the prose says of an interval for each :func:`verdict`."""


def verdict_words(interval: Mapping[str, float]) -> str:
    """:data:`VERDICT_WORDS` of ``interval``'s :func:`verdict`, e.g. ``"contains zero"``."""
    return VERDICT_WORDS[verdict(interval)]


def survives(interval: Mapping[str, float], claim: float) -> str:
    """Whether a one-seed claim of the sign of ``claim`` (e.g. the first seed's difference)
    holds over seeds: ``"survives"`` if the interval lies on that side of 0, ``"is reversed"`` if
    it lies on the other, ``"is not resolved"`` if it contains 0."""
    word = verdict(interval)
    if word == "not resolved":
        return "is not resolved"
    return "survives" if (word == "positive") == (claim > 0) else "is reversed"


def mean_sd_text(mean: float, sd: float, digits: int = 3, sign: bool = False) -> str:
    """``mean ± sd`` for prose and tables, e.g. ``+1.23 ± 0.40`` with ``sign``."""
    return f"{mean:{'+' if sign else ''}.{digits}f} ± {sd:.{digits}f}"


def interval_text(interval: Mapping[str, float], digits: int = 1, unit: str = "") -> str:
    """``mean ± sd [low, high]`` of a :func:`t_interval` result, signed, for glued prose."""
    return (f"{mean_sd_text(interval['mean'], interval['sd'], digits, sign=True)}{unit} "
            f"[{interval['low']:+.{digits}f}, {interval['high']:+.{digits}f}]")


def same_setting_seed_runs(
    main: Mapping, kind: str, settings: Callable[[Mapping], object], seed_of: Callable[[Mapping], int],
    folder: str | Path | None, missing: str, repeated: str,
) -> list[dict]:
    """``main`` and the ``kind`` records under ``<folder>/seeds/`` (default: the ``book/results``
    of :func:`mmrs.records.results_folder`) whose ``settings(record)`` equal ``main``'s, ordered by
    ``seed_of``. ``ValueError(missing)`` when no other seed matches, ``ValueError(repeated)``
    (formatted with ``seeds=``) when two runs share a seed."""
    from ..records import load_folder, results_folder

    seeds = (Path(folder) if folder is not None else results_folder("book")) / "seeds"
    others = load_folder(seeds, kinds=[kind]) if seeds.is_dir() else []
    runs = [main] + [r for r in others if settings(r) == settings(main)]
    if len(runs) < 2:
        raise ValueError(f"{seeds}: {missing}")
    seen = [seed_of(r) for r in runs]
    if len(seen) != len(set(seen)):
        raise ValueError(repeated.format(seeds=sorted(seen)))
    return sorted(runs, key=seed_of)
