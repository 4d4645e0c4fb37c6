"""Chapter 5's analyses: a hand-checkable VBPR, how good a frozen kNN item graph is, how FREEDOM's
pruning treats edges, and the comparison of feature-based models with Chapter 4's records: each
model's grid (:func:`model_grids`, for equal tuning budgets) and the untrained reference points
(:func:`reference_runs`: content item-kNN and the attribute oracle).

*Neighbour agreement* of an item graph ``G`` with item labels ``y`` (e.g. article type)::

    agree(G) = Σ_{i≠j} G_ij [y_i = y_j] / Σ_{i≠j} G_ij     (the share of edges, for a binary G)
    chance   = Σ_c n_c (n_c − 1) / (n (n − 1))        (two distinct random items share a label)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from .. import records
from ..models.freedom import degree_sensitive_prune, item_item_graph, knn_graph, pruning_weights
from ..models.vbpr import VBPR
from .tables import find_record_file, load_all_records, select_by_validation


def tiny_vbpr(reg_weight: float = 0.1) -> VBPR:
    """1 user, 2 items, ``d = 1``, one 1-d text feature, parameters set by hand:
    ``p_u = [1, 2]``, ``γ = [1], [0]``, ``W = 1``, ``b = 0``, ``f = 0.5, −1`` → ``q_0 = [1, 0.5]``,
    ``q_1 = [0, −1]``, scores ``2`` and ``−2``."""
    model = VBPR(1, 2, {"text": np.array([[0.5], [-1.0]], dtype=np.float32)}, embedding_dim=1,
                 reg_weight=reg_weight)
    with torch.no_grad():
        model.user_embedding.copy_(torch.tensor([[1.0, 2.0]]))
        model.item_embedding.copy_(torch.tensor([[1.0], [0.0]]))
        model.item_linear.weight.copy_(torch.tensor([[1.0]]))
        model.item_linear.bias.zero_()
    return model


def neighbour_agreement(graph: sp.spmatrix, labels: np.ndarray) -> float:
    """Weighted share of the graph's edges ``i → j`` (``i ≠ j``) whose endpoints share a label.

    Edges count with their weight ``G_ij``, so for FREEDOM's combined ``S`` a text edge counts
    nine times an image edge; for a binary kNN graph this is the plain share of edges.
    """
    coo = sp.coo_matrix(graph)
    off = coo.row != coo.col
    labels = np.asarray(labels)
    if not off.any():
        raise ValueError("the graph has no edges between distinct items")
    same = labels[coo.row[off]] == labels[coo.col[off]]
    weights = coo.data[off].astype(np.float64)
    return float((weights * same).sum() / weights.sum())


def chance_agreement(labels: np.ndarray) -> float:
    """``Σ_c n_c (n_c − 1) / (n (n − 1))``: two distinct items drawn at random share a label."""
    counts = pd.Series(np.asarray(labels)).value_counts().to_numpy(dtype=np.float64)
    n = counts.sum()
    return float((counts * (counts - 1)).sum() / (n * (n - 1)))


def graph_agreement_table(
    features: dict[str, np.ndarray], items: pd.DataFrame, attributes: tuple[str, ...], k: int = 10,
    image_weight: float = 0.1,
) -> pd.DataFrame:
    """Neighbour agreement of the image-, text- and combined kNN graphs (``k`` neighbours) with
    each attribute of ``items``, and the chance level, one row each."""
    graphs = {f"{m} kNN": knn_graph(features[m], k) for m in ("image", "text") if m in features}
    if len(graphs) == 2:
        graphs["combined (FREEDOM's S)"] = item_item_graph(features, ("image", "text"), k, image_weight)
    rows = {name: {a: neighbour_agreement(g, items[a].astype(str).to_numpy()) for a in attributes}
            for name, g in graphs.items()}
    rows["chance (random pairs)"] = {a: chance_agreement(items[a].astype(str).to_numpy()) for a in attributes}
    return pd.DataFrame(rows).T


def keep_rates(train: sp.spmatrix, dropout: float, n_draws: int = 50, seed: int = 0) -> pd.DataFrame:
    """Per training edge: its pruning weight ``1/sqrt(d_u d_i)`` and how often FREEDOM's
    degree-sensitive pruning kept it in ``n_draws`` epochs (seeded)."""
    coo = sp.coo_matrix(train, dtype=np.float32)
    n_users = coo.shape[0]
    du = np.asarray(coo.sum(axis=1)).ravel()
    di = np.asarray(coo.sum(axis=0)).ravel()
    weights = pruning_weights(coo)
    gen = torch.Generator().manual_seed(seed)
    kept = np.zeros(coo.nnz)
    lookup = {(u, i): e for e, (u, i) in enumerate(zip(coo.row, coo.col, strict=True))}
    for _ in range(n_draws):
        adj = sp.coo_matrix(degree_sensitive_prune(coo, 1.0 - dropout, gen)[:n_users, n_users:])
        for u, i in zip(adj.row, adj.col, strict=True):
            kept[lookup[(u, i)]] += 1
    return pd.DataFrame({
        "user degree": du[coo.row], "item degree": di[coo.col],
        "weight": weights, "kept": kept / n_draws,
    })


def feature_model_records(dataset: str = "fashion-sim-full") -> tuple[list[dict], list[dict]]:
    """``(all grid points, validation-selected point per model)`` of VBPR and FREEDOM on ``dataset``."""
    points = [r for r in load_all_records()
              if r["dataset"]["name"] == dataset and r["model"] in ("vbpr", "freedom")]
    return points, select_by_validation(points)


def same_simulation(record: dict[str, Any], chapter4: dict[str, Any]) -> bool:
    """Whether a Chapter 5 record was made on the data of a Chapter 4 ``bm3_run`` file."""
    mine, theirs = record["dataset"], chapter4["dataset"]
    return (mine.get("description") == theirs.get("description")
            and mine.get("simulation") == theirs.get("simulation"))


MODEL_LABELS: dict[str, str] = {"vbpr": "VBPR", "freedom": "FREEDOM", "bm3": "BM3 (v+t)",
                                "lightgcn": "LightGCN", "bpr": "BPR"}
"""How the chapter names a model's grid (other models: their name in upper case)."""

MAIN_RUNS: tuple[str, ...] = ("bm3_fashion-sim-full.json#BM3 (v+t)",
                              "bm3_fashion-sim-full.json#LightGCN")
"""Chapter 4's runs that are grid points of their model too (not its ablation variants)."""


def model_grids(dataset: str = "fashion-sim-full") -> dict[str, list[dict]]:
    """Each model's tuning grid on ``dataset``: its records under ``book/results/grid/`` plus
    :data:`MAIN_RUNS`, by label (:data:`MODEL_LABELS`; a grid of a feature model run without
    features is its own label, ``"<label> w/o v&t"``). New grid records are picked up as they
    are committed; untrained reference points (item-kNN, the oracle) have no grid."""
    grids: dict[str, list[dict]] = {}
    everything = records.flatten_runs(records.load_folder(records.results_folder("book")))
    for r in everything:
        if r["dataset"]["name"] != dataset:
            continue
        if not (r["_file"].startswith("grid/") or r["_file"] in MAIN_RUNS):
            continue
        label = MODEL_LABELS.get(r["model"], r["model"].upper())
        if r["config"]["model"].get("modalities") == []:
            label = f"{label.removesuffix(' (v+t)')} w/o v&t"
        grids.setdefault(label, []).append(r)
    return grids


def reference_runs(dataset: str = "fashion-sim-full") -> dict[str, dict]:
    """The untrained reference points on ``dataset`` that exist: ``"oracle (ceiling)"`` and
    ``"item-kNN (content)"`` (``book/results/<model>_<dataset>.json``)."""
    out = {}
    for label, name in (("oracle (ceiling)", "oracle"), ("item-kNN (content)", "itemknn")):
        path = find_record_file(f"{name}_{dataset}.json")
        if path.is_file():
            out[label] = records.load(path)
    return out
