"""Category first, then item: the two-stage cascade of Chapter 6 and its controls.

:mod:`~mmrs.hierarchical.router`       stage 1, ``p(c | q)`` from the title features.
:mod:`~mmrs.hierarchical.heads`        stage 2, category-specialised projection heads.
:mod:`~mmrs.hierarchical.cascade`      flat / restricted / soft-routed score matrices.
:mod:`~mmrs.hierarchical.experiment`   prepare → fit → evaluate every variant.
:mod:`~mmrs.hierarchical.interference` cross-category neighbours, 2-D projection.
:mod:`~mmrs.hierarchical.latency`      per-query cost, flat vs cascade.
:mod:`~mmrs.hierarchical.tables`       results (live or a record) as tables.
:mod:`~mmrs.hierarchical.plots`        the chapter's figures.
:mod:`~mmrs.hierarchical.run`          ``python -m mmrs.hierarchical.run`` → JSON record.
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
from .plots import plot_buckets, plot_embedding_map, plot_gains
from .router import CategoryRouter, routing_accuracy, train_router
from .tables import (
    bucket_frame,
    decomposition_frame,
    gain_frame,
    latency_frame,
    load_record,
    metric_frame,
    propagation_frame,
)

__all__ = [
    "LEVELS", "VARIANTS", "CategoryRouter", "Data", "Fitted", "Level", "bucket_frame",
    "candidates_scored", "confusion_pairs", "decomposition_frame", "cross_category_share", "embed", "evaluate", "fit",
    "flat_scores", "gain_frame", "latency_frame", "load_record", "metric_frame", "neighbour_table", "pca_2d", "worst_query", "plot_buckets", "plot_embedding_map", "plot_gains", "prepare",
    "propagation_frame", "query_latency", "routed_scores", "routing_accuracy",
    "specialise_heads", "train_router", "variant_scores",
]
