"""Category first, then item: the two-stage cascade of Chapter 6 and its controls.

:mod:`~mmrs.hierarchical.router`       stage 1, ``p(c | q)`` from the title features.
:mod:`~mmrs.hierarchical.heads`        stage 2, category-specialised projection heads.
:mod:`~mmrs.hierarchical.cascade`      flat / restricted / soft-routed score matrices.
:mod:`~mmrs.hierarchical.experiment`   prepare → fit → evaluate every variant.
:mod:`~mmrs.hierarchical.interference` cross-category neighbours, 2-D projection.
:mod:`~mmrs.hierarchical.latency`      per-query cost, flat vs cascade.

Tables and figures of Chapter 6 live in :mod:`mmrs.chapters.hierarchical`; the runner that writes
its records in :mod:`mmrs.experiments.hierarchical`.
"""

from .cascade import candidates_scored, embed, flat_scores, routed_scores
from .experiment import (
    LEVELS,
    VARIANTS,
    Data,
    Fitted,
    Level,
    evaluate,
    fit,
    prepare,
    variant_scores,
)
from .heads import specialise_heads
from .interference import (
    confusion_pairs,
    cross_category_share,
    neighbour_table,
    pca_2d,
    worst_query,
)
from .latency import query_latency
from .router import CategoryRouter, routing_accuracy, train_router

__all__ = [
    "LEVELS", "VARIANTS", "CategoryRouter", "Data", "Fitted", "Level", "candidates_scored",
    "confusion_pairs", "cross_category_share", "embed", "evaluate", "fit", "flat_scores",
    "neighbour_table", "pca_2d", "prepare", "query_latency", "routed_scores", "routing_accuracy",
    "specialise_heads", "train_router", "variant_scores", "worst_query",
]
