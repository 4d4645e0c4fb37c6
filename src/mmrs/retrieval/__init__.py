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
from .task import RELEVANCE_KEYS, attribute_truth, retrieval_metrics, topk_from_scores
from .towers import TINY_CLIP_CONFIG, LockedTowers, ProjectionHead, create_openclip_towers
from .train import TrainLog, pair_recall, train_towers

__all__ = [
    "RELEVANCE_KEYS", "SIZES", "TINY_CLIP_CONFIG", "LockedTowers", "ProjectionHead",
    "RetrievalSizes", "TrainLog", "attribute_truth", "clip_loss", "clip_loss_numpy",
    "create_openclip_towers", "eligible", "pair_recall", "product_features", "retrieval_metrics",
    "sizes", "split_products", "stratified_sample", "topk_from_scores", "train_towers",
]
