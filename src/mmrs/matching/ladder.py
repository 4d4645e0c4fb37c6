"""The ablation ladder of the Shopee winners, on two views (e.g. image + text, TF-IDF + MiniLM).

Steps, each tuned on validation groups and scored on test groups (kNN inside each part):

1. ``A only``, 2. ``B only`` — one view, one threshold;
3. ``concat→normalize`` — ``[a | b] / ‖[a | b]‖`` (raw scales decide the weighting);
4. ``normalize→concat`` — the "comb" embedding, mean of the two cosine similarities;
5. ``concat→normalize + min2``, ``normalize→concat + min2`` — at least one partner per listing
   (relaxed threshold for the 2nd neighbour);
6. ``union + min2`` — A matches ∪ B matches ∪ comb matches, three thresholds tuned jointly;
7. ``INB stage s`` (s = 1…S) — blend A, B and comb over their own thresholded neighbours,
   search again, re-tune the union. The blending threshold of each view is the one tuned on
   validation for that view alone without min2 (steps 1, 2 and ``normalize→concat``; re-tuned
   on the blended neighbours before each later stage): the distance at which the view by
   itself best separates matches from non-matches. With ``blend_search="rerank"`` the stages do
   not search again: each listing's stage-0 candidates are re-scored with the blended vectors
   (:func:`~mmrs.matching.knn.rerank_candidates`, dense views only), the shortcut that
   ``benchmarks/bench_matching.py`` times at 100k and 1M listings.

:meth:`LadderResult.selected_step` is the step with the best *validation* F1 — what one would
submit; the test columns of the other rows are reported for the ablation, not for selection.

The Shopee winners' reported public-LB ladder follows the same order on Shopee's data.

Setting and objective (:mod:`mmrs.matching.setting`): with ``sources`` given the ladder runs
**clean–clean** — every kNN search (and so every blend) is among the other source's listings —
and ``one_to_one=True`` keeps at most one partner per listing; without ``sources`` it is
**pooled**. ``objective`` is what thresholds are tuned on (``"shopee"`` or ``"pair"``,
:data:`mmrs.matching.tune.OBJECTIVES`); every row reports both metric families on validation and
test, and :attr:`LadderResult.baseline` the self-only matcher's scores.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .blend import blend_stage
from .embeddings import Embedding, comb, l2_normalize, take_rows
from .f1 import match_scores
from .knn import DEFAULT_K, Neighbours, knn, rerank_candidates
from .pairs import pair_scores, self_only
from .setting import cross_source_knn
from .tune import MatchConfig, TuneResult, tune

PARTS = ("val", "test")
COMB = "comb"
CONCAT = "concat"


@dataclass
class LadderResult:
    """The ladder's table plus what the chapter plots (per-part neighbours, tuning curves)."""

    table: pd.DataFrame
    tuning: dict[str, TuneResult] = field(default_factory=dict)
    neighbours: dict[str, dict[str, dict[str, Neighbours]]] = field(default_factory=dict)
    embeddings: dict[str, dict[str, dict[str, Embedding]]] = field(default_factory=dict)
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    groups: dict[str, np.ndarray] = field(default_factory=dict)
    baseline: dict[str, dict[str, float]] = field(default_factory=dict)
    """Self-only scores per part: ``{"val": {"shopee_f1": …, "pair_f1": 0.0}, "test": …}``."""

    def selected_step(self) -> str:
        """The step with the highest validation F1 (the first one on ties)."""
        return str(self.table["val_f1"].idxmax())

    def records(self) -> list[dict]:
        """The table as JSON-ready dicts."""
        return [
            {k: _plain(v) for k, v in row.items()}
            for row in self.table.reset_index().to_dict("records")
        ]


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


def run_ladder(
    views: Mapping[str, Embedding],
    groups: np.ndarray,
    val_mask: np.ndarray,
    stages: int = 3,
    k: int = DEFAULT_K,
    progress: bool = True,
    blend_search: str = "search",
    sources: np.ndarray | None = None,
    objective: str = "shopee",
    one_to_one: bool = False,
) -> LadderResult:
    """Run the ladder on exactly two ``views`` (name → embedding of all listings).

    ``groups`` are the true group labels, ``val_mask`` marks validation listings (the rest are
    test). Returns a table indexed by step with validation F1, test F1/precision/recall, the
    tuned configuration and the seconds each step took. ``sources`` (one label per listing):
    clean–clean search; ``objective``: the tuning F1; ``one_to_one``: at most one partner each.
    """
    if one_to_one and sources is None:
        raise ValueError("one_to_one needs the clean–clean setting: pass sources")
    if blend_search not in ("search", "rerank"):
        raise ValueError(f"blend_search must be 'search' or 'rerank', got {blend_search!r}")
    if len(views) != 2:
        raise ValueError(f"the ladder compares exactly two views, got {list(views)}")
    a, b = views
    if COMB in views or CONCAT in views:
        raise ValueError(f"view names {COMB!r} and {CONCAT!r} are reserved")
    groups, val_mask = np.asarray(groups), np.asarray(val_mask, dtype=bool)
    if len(groups) != len(val_mask):
        raise ValueError("groups and val_mask must have one entry per listing")
    result = LadderResult(table=pd.DataFrame())
    emb: dict[str, dict[str, Embedding]] = {}
    nbs: dict[str, dict[str, Neighbours]] = {}
    part_sources: dict[str, np.ndarray] = {}

    def search(part: str, x: Embedding) -> Neighbours:
        if sources is None:
            return knn(x, k)
        return cross_source_knn(x, part_sources[part], k)

    for part, mask in zip(PARTS, (val_mask, ~val_mask), strict=True):
        rows = np.flatnonzero(mask)
        result.rows[part], result.groups[part] = rows, groups[rows]
        if sources is not None:
            part_sources[part] = np.asarray(sources)[rows]
        trivial = self_only(len(rows))
        result.baseline[part] = {
            "shopee_f1": match_scores(trivial, groups[rows])["f1"],
            "pair_f1": pair_scores(trivial, groups[rows])["f1"],
        }
        sub = {name: l2_normalize(take_rows(x, rows)) for name, x in views.items()}
        sub[CONCAT] = comb(
            [take_rows(views[a], rows), take_rows(views[b], rows)], "concat_then_normalize"
        )
        sub[COMB] = comb([sub[a], sub[b]], "normalize_then_concat")
        emb[part], nbs[part] = sub, {}

    table: list[dict] = []
    steps = [  # (name, view, min2)
        (f"{a} only", a, False),
        (f"{b} only", b, False),
        ("concat→normalize", CONCAT, False),
        ("normalize→concat", COMB, False),
        ("concat→normalize + min2", CONCAT, True),
        ("normalize→concat + min2", COMB, True),
    ]
    bar = tqdm(total=len(steps) + 1 + stages, desc="ladder", disable=not progress)
    best: dict[str, float] = {}
    for name, view, min2 in steps:
        tic = time.perf_counter()
        for part in PARTS:
            if view not in nbs[part]:
                nbs[part][view] = search(part, emb[part][view])
        start = MatchConfig({view: best.get(view, 0.5)}, view if min2 else None,
                            one_to_one=one_to_one)
        res = tune(nbs["val"], result.groups["val"], start, objective=objective)
        if not min2:  # the view's own threshold, reused as its blending threshold
            best[view] = res.config.thresholds[view]
        table.append(_row(name, res, nbs, result.groups, time.perf_counter() - tic))
        result.tuning[name] = res
        bar.update()
    result.neighbours["stage 0"] = {p: dict(nbs[p]) for p in PARTS}
    result.embeddings["stage 0"] = {p: dict(emb[p]) for p in PARTS}

    tic = time.perf_counter()
    # two starts, keep the better: every view at its own threshold, and comb + min2 alone
    # (t = 0 switches a view off), so the union is never worse on validation than comb + min2
    comb_min2 = result.tuning["normalize→concat + min2"].config
    starts = [
        MatchConfig({a: best[a], b: best[b], COMB: best[COMB]}, COMB, one_to_one=one_to_one),
        MatchConfig({a: 0.0, b: 0.0, **comb_min2.thresholds}, COMB, comb_min2.relaxed_offset,
                    one_to_one),
    ]
    res = max(
        (tune(nbs["val"], result.groups["val"], s, objective=objective) for s in starts),
        key=lambda r: r.scores["f1"],
    )
    table.append(_row("union + min2", res, nbs, result.groups, time.perf_counter() - tic))
    result.tuning["union + min2"] = res
    bar.update()
    for stage in range(1, stages + 1):
        tic = time.perf_counter()
        for view in (a, b, COMB):
            if stage > 1:  # blending made the space denser: re-tune the view's own threshold
                own = tune(nbs["val"], result.groups["val"],
                           MatchConfig({view: best[view]}, one_to_one=one_to_one),
                           objective=objective)
                best[view] = own.config.thresholds[view]
            for part in PARTS:
                emb[part][view] = blend_stage(emb[part][view], nbs[part][view], best[view])
                if blend_search == "search":
                    nbs[part][view] = search(part, emb[part][view])
                else:
                    first = result.neighbours["stage 0"][part][view]
                    nbs[part][view] = rerank_candidates(_dense(emb[part][view]), first)
        res = tune(nbs["val"], result.groups["val"], res.config, objective=objective)
        name = f"INB stage {stage}"
        table.append(_row(name, res, nbs, result.groups, time.perf_counter() - tic))
        result.tuning[name] = res
        result.neighbours[f"stage {stage}"] = {p: dict(nbs[p]) for p in PARTS}
        result.embeddings[f"stage {stage}"] = {p: dict(emb[p]) for p in PARTS}
        bar.update()
    bar.close()
    result.table = pd.DataFrame(table).set_index("step")
    return result


def _dense(x: Embedding) -> np.ndarray:
    """A dense embedding as one array (blocks concatenated); sparse blocks are refused."""
    parts = x if isinstance(x, tuple) else (x,)
    if any(not isinstance(p, np.ndarray) for p in parts):
        raise TypeError("blend_search='rerank' needs dense views (sparse TF-IDF blocks: use 'search')")
    return np.hstack(parts) if len(parts) > 1 else parts[0]


def _row(name: str, res: TuneResult, nbs, groups, seconds: float) -> dict:
    """``val_f1``: the tuning objective on validation; ``test_*``: the Shopee metric on test;
    ``*_pair_*``: pair-level scores (:func:`mmrs.matching.pairs.pair_scores`)."""
    val_m = res.config.predict(nbs["val"])
    test_m = res.config.predict(nbs["test"])
    test = match_scores(test_m, groups["test"])
    val_pair, test_pair = pair_scores(val_m, groups["val"]), pair_scores(test_m, groups["test"])
    return {
        "step": name,
        "val_f1": res.scores["f1"],
        "test_f1": test["f1"],
        "test_precision": test["precision"],
        "test_recall": test["recall"],
        "val_shopee_f1": match_scores(val_m, groups["val"])["f1"],
        "val_pair_f1": val_pair["f1"],
        "test_pair_f1": test_pair["f1"],
        "test_pair_precision": test_pair["precision"],
        "test_pair_recall": test_pair["recall"],
        "config": res.config.as_dict(),
        "seconds": seconds,
    }
