"""Product matching with iterative neighbourhood blending, after the Shopee 1st-place pipeline.

Modules, in pipeline order: :mod:`.embeddings` (normalisation, comb fusion, TF-IDF),
:mod:`.knn` (faiss / brute-force neighbours), :mod:`.threshold` (thresholds, min2, union, cap),
:mod:`.blend` (neighbourhood blending), :mod:`.f1` (the Shopee metric), :mod:`.split` and
:mod:`.tune` (validation groups, threshold tuning), :mod:`.ladder` (the ablation ladder),
:mod:`.perturb` and :mod:`.fashion_listings` (simulated listings of real products),
:mod:`.setting` (pooled vs clean–clean search, one-to-one), :mod:`.pairs` (pair-level metrics),
:mod:`.heads` and :mod:`.trained` (ArcFace projection heads, margin tuned on validation),
:mod:`.run` (the replication command) and :mod:`.plots` (the chapter's figures).
"""

from .blend import blend_stage, blend_weights, neighbourhood_blend
from .embeddings import FUSIONS, blocks, comb, l2_normalize, take_rows, tfidf_embeddings
from .f1 import listing_f1, match_scores, matches_to_lists, shopee_f1
from .knn import (
    DEFAULT_K,
    Neighbours,
    approximate_knn,
    brute_force_knn,
    faiss_knn,
    knn,
    rerank_candidates,
    similarity_rows,
)
from .ladder import LadderResult, run_ladder
from .split import split_groups
from .threshold import MAX_MATCHES, cap_matches, match_matrix, predict, union
from .tune import THRESHOLD_GRID, MatchConfig, TuneResult, evaluate, tune

__all__ = [
    "DEFAULT_K",
    "FUSIONS",
    "MAX_MATCHES",
    "THRESHOLD_GRID",
    "LadderResult",
    "MatchConfig",
    "Neighbours",
    "TuneResult",
    "blend_stage",
    "blend_weights",
    "blocks",
    "approximate_knn",
    "brute_force_knn",
    "cap_matches",
    "comb",
    "evaluate",
    "faiss_knn",
    "knn",
    "rerank_candidates",
    "l2_normalize",
    "listing_f1",
    "match_matrix",
    "match_scores",
    "matches_to_lists",
    "neighbourhood_blend",
    "predict",
    "run_ladder",
    "shopee_f1",
    "similarity_rows",
    "split_groups",
    "take_rows",
    "tfidf_embeddings",
    "tune",
    "union",
]
