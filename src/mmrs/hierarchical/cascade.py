"""Flat, restricted and cascaded scoring of a gallery for text queries.

All variants fill a dense score matrix ``S [n_queries, n_gallery]`` with ``−inf`` outside each
query's candidate set, so one ranking and one metric code path serve them all:

* **flat** — shared heads, every gallery item: ``S_qi = s(q, i)``.
* **restricted** to routes ``R_q`` (a set of categories): ``S_qi = s_{c_i}(q, i)`` if
  ``c_i ∈ R_q`` else ``−inf``, where ``s_c`` uses category ``c``'s stage-2 heads when it has
  them and the shared heads otherwise. With only shared heads this is the flat model restricted
  to the routed category (search-space reduction without specialisation).
* **soft routing** over the top-m categories adds the router's log-probability,
  ``S_qi = exp(logit_scale_c) · s_c(q, i) + log p(c_i | q)``, i.e. the log of
  ``p(c | q) · exp(score)`` — a confident category outranks a doubtful one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ..devices import module_device
from ..retrieval.task import topk_from_scores
from ..retrieval.towers import LockedTowers


def embed(model: LockedTowers, image: np.ndarray | None = None, text: np.ndarray | None = None) -> np.ndarray:
    """Unit vectors of ``image`` (if given) else ``text`` features under ``model``'s heads
    (computed on the model's device, returned as a CPU NumPy array)."""
    device = module_device(model)
    with torch.no_grad():
        if image is not None:
            x = torch.from_numpy(np.asarray(image, np.float32)).to(device)
            return model.encode_image(x).cpu().numpy()
        t = torch.from_numpy(np.asarray(text, np.float32)).to(device)
        return model.encode_text(t).cpu().numpy()


def flat_scores(model: LockedTowers, q_text: np.ndarray, g_image: np.ndarray) -> np.ndarray:
    """``S = W Uᵀ``: cosine of every query with every gallery photo under the shared heads."""
    return embed(model, text=q_text) @ embed(model, image=g_image).T


def flat_topk(
    model: LockedTowers, q_text: np.ndarray, g_image: np.ndarray, k: int, block_elements: int = 2**25
) -> np.ndarray:
    """Top-``k`` gallery positions of :func:`flat_scores`, ``block_elements // n_gallery`` queries
    at a time (the gallery is embedded once; no ``[n_q, n_gallery]`` matrix is kept)."""
    u = embed(model, image=g_image)
    w = embed(model, text=q_text)
    step = max(1, block_elements // max(1, len(u)))
    return np.vstack([topk_from_scores(w[i : i + step] @ u.T, k) for i in range(0, len(w), step)]
                     or [np.zeros((0, k), np.int64)])


def routed_scores(
    shared: LockedTowers,
    heads: Mapping[int, LockedTowers],
    q_text: np.ndarray,
    g_image: np.ndarray,
    g_codes: np.ndarray,
    routes: np.ndarray,
    log_prior: np.ndarray | None = None,
) -> np.ndarray:
    """``S`` restricted to each query's routed categories (module docstring).

    ``routes [n_q, m]`` holds category codes (one column: hard routing); ``log_prior [n_q, m]``
    (optional) the router's ``log p(c | q)`` for soft routing. Categories without an entry in
    ``heads`` use ``shared``.
    """
    routes = np.asarray(routes).reshape(len(q_text), -1)
    scores = np.full((len(q_text), len(g_image)), -np.inf, dtype=np.float32)
    for c in np.unique(routes):
        model = heads.get(int(c), shared)
        items = np.flatnonzero(g_codes == c)
        q_rows, slot = np.nonzero(routes == c)
        if len(items) == 0 or len(q_rows) == 0:
            continue
        block = embed(model, text=q_text[q_rows]) @ embed(model, image=g_image[items]).T
        if log_prior is not None:
            block = float(model.logit_scale.detach().exp()) * block + log_prior[q_rows, slot][:, None]
        scores[np.ix_(q_rows, items)] = block
    return scores


def candidates_scored(g_codes: np.ndarray, routes: np.ndarray) -> np.ndarray:
    """Per query, how many gallery items its routes admit (the cost of stage 2)."""
    sizes = np.bincount(g_codes, minlength=int(max(g_codes.max(), np.max(routes))) + 1)
    routes = np.asarray(routes).reshape(len(routes), -1)
    return np.array([sizes[np.unique(r)].sum() for r in routes])
