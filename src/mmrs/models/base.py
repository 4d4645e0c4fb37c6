"""The interface every recommender in :mod:`mmrs.models` implements, and the shared losses.

A model is a :class:`torch.nn.Module` with

* ``needs_negatives``: whether :meth:`Recommender.calculate_loss` uses sampled negatives;
* ``calculate_loss(users, pos, neg) -> Tensor``: the scalar training loss of one batch of
  ``(u, i, j)`` triples (``neg`` may be ``None`` when ``needs_negatives`` is false);
* ``pre_epoch()``: called by :func:`mmrs.train.train` before every training epoch (default: nothing;
  FREEDOM re-samples its pruned graph here);
* ``prepare_eval()``: computes whatever evaluation needs once (e.g. propagated embeddings);
  called by :func:`mmrs.metrics.evaluate_split` after ``model.eval()``;
* ``score_users(users) -> Tensor [b, n_items]``: scores of all items for a batch of users;
* ``reset_parameters()``: (re-)initialises the parameters from the global torch RNG, so that
  :func:`mmrs.train.train` can seed a run independently of when the model was built;
* ``hparams()``: the constructor settings, recorded with results.

Switching to training mode (``model.train()``) drops the evaluation cache.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """``L_BPR = -(1/B) sum_b log sigma(s_ui - s_uj)`` (mean over the batch).

    Computed as ``-logsigmoid`` for stability; MMRec writes ``-log(1e-10 + sigma(.))``, which
    differs only when ``sigma(.) < ~1e-8``.
    """
    return -F.logsigmoid(pos_scores - neg_scores).mean()


def emb_loss(*embeddings: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """MMRec's ``EmbLoss``: ``(sum_m ||E_m||_F) / B``, ``B`` = rows of the last tensor.

    MMRec (``common/loss.py``) uses ``torch.norm(E, p=2)``, the Frobenius norm, **not squared**.
    ``squared=True`` gives the textbook L2 term ``(sum_m ||E_m||_F^2) / B`` instead.
    """
    batch = embeddings[-1].shape[0]
    if squared:
        total = sum(e.pow(2).sum() for e in embeddings)
    else:
        total = sum(torch.linalg.vector_norm(e) for e in embeddings)
    return total / batch


def add_feature_tables(
    model: nn.Module, features: dict, modalities: tuple[str, ...], n_items: int, out_dim: int
) -> None:
    """Give ``model`` one trainable raw table ``feat_tables[m]`` (initialised with the features,
    **not frozen**, as BM3's and FREEDOM's reference code) and one projection
    ``projections[m]: d_m -> out_dim`` per modality; the extracted features are kept in a buffer
    ``_raw_<m>`` for :func:`restore_feature_tables`."""
    model.feat_tables = nn.ParameterDict()
    model.projections = nn.ModuleDict()
    for m in modalities:
        raw = np.asarray(features[m], dtype=np.float32)
        if raw.shape[0] != n_items:
            raise ValueError(f"{m} features have {raw.shape[0]} rows, expected {n_items} items")
        model.register_buffer(f"_raw_{m}", torch.from_numpy(raw.copy()), persistent=False)
        model.feat_tables[m] = nn.Parameter(torch.empty(raw.shape))
        model.projections[m] = nn.Linear(raw.shape[1], out_dim)


def restore_feature_tables(model: nn.Module) -> None:
    """Copy the extracted features back into every ``feat_tables[m]`` (see :func:`add_feature_tables`)."""
    with torch.no_grad():
        for m, table in model.feat_tables.items():
            table.copy_(getattr(model, f"_raw_{m}"))


class Recommender(nn.Module):
    """Base class: the common interface (module docstring) and the evaluation cache."""

    name: str = "recommender"
    needs_negatives: bool = True

    def __init__(self, n_users: int, n_items: int) -> None:
        super().__init__()
        self.n_users = int(n_users)
        self.n_items = int(n_items)
        self._cache: tuple[torch.Tensor, ...] | None = None

    def reset_parameters(self) -> None:
        """Re-initialise all parameters (models without parameters have nothing to do)."""

    def hparams(self) -> dict[str, Any]:
        """Constructor settings worth recording."""
        return {}

    def pre_epoch(self) -> None:
        """Per-epoch preparation before training batches (default: nothing)."""

    def calculate_loss(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None
    ) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement calculate_loss")

    def compute_eval_cache(self) -> tuple[torch.Tensor, ...]:
        """The tensors :meth:`score_users` reads (default: none)."""
        return ()

    def prepare_eval(self) -> None:
        """Compute and keep the evaluation cache (no gradients)."""
        with torch.no_grad():
            self._cache = self.compute_eval_cache()

    def eval_cache(self) -> tuple[torch.Tensor, ...]:
        """The cache, computed on first use."""
        if self._cache is None:
            self.prepare_eval()
        assert self._cache is not None
        return self._cache

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement score_users")

    def train(self, mode: bool = True) -> Recommender:
        """Switch mode; entering training mode invalidates the evaluation cache."""
        if mode:
            self._cache = None
        return super().train(mode)

    @property
    def trainable(self) -> bool:
        """Whether the model has parameters to fit (MostPop has none)."""
        return any(p.requires_grad for p in self.parameters())
