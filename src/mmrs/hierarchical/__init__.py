"""Category first, then item: the two-stage cascade of Chapter 6 and its controls.

:mod:`~mmrs.hierarchical.router`       stage 1, ``p(c | q)`` from the title features.
:mod:`~mmrs.hierarchical.heads`        stage 2, category-specialised projection heads.
:mod:`~mmrs.hierarchical.cascade`      flat / restricted / soft-routed score matrices.
:mod:`~mmrs.hierarchical.experiment`   prepare → fit → evaluate every variant.
:mod:`~mmrs.hierarchical.decomposition` the cascade's gain = reduction + extra training + specialisation.
:mod:`~mmrs.hierarchical.interference` cross-category neighbours, 2-D projection.
:mod:`~mmrs.hierarchical.latency`      per-query cost, flat vs cascade.

Tables and figures of Chapter 6 live in :mod:`mmrs.chapters.hierarchical`; the runner that writes
its records in :mod:`mmrs.experiments.hierarchical`.
"""

from .cascade import candidates_scored, embed, flat_scores, flat_topk, routed_scores
from .decomposition import PARTS, gain_decomposition
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
    "LEVELS", "PARTS", "VARIANTS", "CategoryRouter", "Data", "Fitted", "Level", "candidates_scored",
    "confusion_pairs", "cross_category_share", "embed", "evaluate", "fit", "flat_scores", "flat_topk",
    "gain_decomposition",
    "neighbour_table", "pca_2d", "prepare", "query_latency", "routed_scores", "routing_accuracy",
    "specialise_heads", "train_router", "variant_scores", "worst_query",
]
