"""Two-tower (CLIP-style) image–text retrieval on the fashion catalogue (Chapter 6).

:mod:`~mmrs.retrieval.sizes`     per-profile sizes (:func:`sizes`).
:mod:`~mmrs.retrieval.catalogue` stratified sample, disjoint product split, cached features.
:mod:`~mmrs.retrieval.towers`    projection heads over locked towers; open_clip towers by name.
:mod:`~mmrs.retrieval.loss`      CLIP's symmetric InfoNCE via ``open_clip.loss.ClipLoss``.
:mod:`~mmrs.retrieval.train`     contrastive training with a validation-selected epoch.
:mod:`~mmrs.retrieval.task`      the text→image task, attribute relevance and the metrics.
"""

from .catalogue import eligible, product_features, split_products, stratified_sample
from .loss import clip_loss, clip_loss_numpy
from .sizes import SIZES, RetrievalSizes, sizes
from .task import (
    GRADED_KEYS,
    RELEVANCE_KEYS,
    attribute_codes,
    attribute_truth,
    graded_gains,
    graded_ndcg,
    own_rank,
    retrieval_metrics,
    topk_from_scores,
)
from .towers import TINY_CLIP_CONFIG, LockedTowers, ProjectionHead, create_openclip_towers
from .train import TrainLog, pair_recall, train_towers

__all__ = [
    "GRADED_KEYS", "RELEVANCE_KEYS", "SIZES", "TINY_CLIP_CONFIG", "LockedTowers", "ProjectionHead",
    "RetrievalSizes", "TrainLog", "attribute_codes", "attribute_truth", "clip_loss", "clip_loss_numpy",
    "create_openclip_towers", "eligible", "graded_gains", "graded_ndcg", "own_rank", "pair_recall", "product_features", "retrieval_metrics",
    "sizes", "split_products", "stratified_sample", "topk_from_scores", "train_towers",
]
