"""Chapter 5's two reference points: content item-kNN (hand-computed scores) and the attribute
oracle (scores are the simulation's own utilities)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import require

from mmrs.metrics import evaluate_split
from mmrs.models import ItemKNN, UtilityOracle, build_model
from mmrs.models.itemknn import item_vectors, shrunk_knn_similarity

# Four items with 2-d "image" features; norms 1, sqrt2, 2, 1.
X = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [-1.0, 0.0]], dtype=np.float32)


def test_shrunk_knn_similarity_by_hand():
    s = shrunk_knn_similarity(X, k=2, shrink=1.0).toarray()
    r2 = math.sqrt(2.0)
    # sim(j, i) = x_j.x_i / (|x_j||x_i| + 1); each row keeps its 2 largest
    # row 0: self 1/(1+1)=.5, item 1: 1/(sqrt2+1)=.414; items 2 (0) and 3 (-.5) dropped
    # row 1: self 2/(2+1)=.667, item 2: 2/(2 sqrt2+1)=.522; item 0 (.414) dropped
    # row 2: self 4/(4+1)=.8, item 1: .522
    # row 3: self .5, item 2: 0/(2+1)=0 (beats item 1: -1/(sqrt2+1) and item 0: -.5)
    expected = np.array([
        [0.5, 1 / (r2 + 1), 0, 0],
        [0, 2 / 3, 2 / (2 * r2 + 1), 0],
        [0, 2 / (2 * r2 + 1), 0.8, 0],
        [0, 0, 0, 0.5],
    ])
    np.testing.assert_allclose(s, expected, rtol=1e-6)
    assert s.shape == (4, 4) and np.diff(sp.csr_matrix(s).indptr).max() <= 2


def test_itemknn_scores_sum_the_neighbours_of_the_train_items():
    train = sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 1, 0, 0]], dtype=np.float32))
    model = ItemKNN(train, {"image": X}, knn_k=2, shrink=1.0, normalise=False)
    scores = model.score_users(torch.tensor([0, 1])).numpy()
    r2 = math.sqrt(2.0)
    # user 0 owns items 0 and 3: rows 0 + 3 -> (.5, .414, 0, .5)
    # user 1 owns item 1: row 1 -> (0, .667, .522, 0)
    np.testing.assert_allclose(scores, [[0.5, 1 / (r2 + 1), 0.0, 0.5],
                                        [0.0, 2 / 3, 2 / (2 * r2 + 1), 0.0]], rtol=1e-6)
    assert model.hparams() == {"knn_k": 2, "shrink": 1.0, "normalise": False, "modalities": None}
    assert not model.trainable


def test_itemknn_normalises_each_modality_before_concatenating():
    features = {"image": np.array([[3.0, 4.0], [1.0, 0.0]]), "text": np.array([[2.0], [-5.0]])}
    x = item_vectors(features, ("image", "text"))
    # image rows /5 and /1, text rows /2 and /5: every row has norm sqrt(2)
    np.testing.assert_allclose(x, [[0.6, 0.8, 1.0], [1.0, 0.0, -1.0]], rtol=1e-6)
    # then the shrink only scales: cos * 2 / (2 + shrink); cos(0, 1) = (0.6 - 1) / 2 = -0.2
    s = shrunk_knn_similarity(x, k=2, shrink=10.0).toarray()
    np.testing.assert_allclose(s, [[2 / 12, -0.2 * 2 / 12], [-0.2 * 2 / 12, 2 / 12]], rtol=1e-5)


def test_itemknn_rejects_bad_settings():
    train = sp.csr_matrix(np.eye(4, dtype=np.float32))
    with pytest.raises(ValueError, match=r"knn_k must be in \[1, 4\]"):
        ItemKNN(train, {"image": X}, knn_k=5)
    with pytest.raises(ValueError, match="shrink must be a number >= 0"):
        ItemKNN(train, {"image": X}, shrink=-1.0)
    with pytest.raises(ValueError, match="modality 'text' requested"):
        ItemKNN(train, {"image": X}, modalities=("text",))


# ------------------------------------------------------------------ the oracle


@pytest.fixture(scope="module")
def sim():
    require("fashion-small")
    require("amazon-clothing")
    from mmrs.data.fashion_sim import simulate_fashion

    return simulate_fashion(size="ci", seed=5, features=False, progress=False)


def _utility_by_hand(sim, u: int) -> np.ndarray:
    """z_ui written out item by item from the module docstring's formula."""
    t, b = sim.tastes.iloc[u], sim.params["betas"]
    out = []
    for _, item in sim.items.iterrows():
        z = item["log_w"]
        z += b["gender"] * (item["gender"] in (t["gender"], "Unisex"))
        z += b["article"] * (item["articleType"] in t["articles"])
        z += b["colour"] * (item["baseColour"] in t["colours"])
        z += b["usage"] * (item["usage"] == t["usage"])
        z += b["brand"] * (item["brand"] == t["brand"])
        out.append(z)
    return np.array(out)


def test_oracle_scores_are_the_simulated_utilities(sim):
    oracle = UtilityOracle(sim)
    users = torch.tensor([0, 7, sim.data.n_users - 1])
    scores = oracle.score_users(users).double().numpy()
    for row, u in enumerate(users.tolist()):
        by_hand = _utility_by_hand(sim, u)
        np.testing.assert_allclose(scores[row], by_hand, rtol=1e-5, atol=1e-5)
        assert np.argmax(scores[row]) == np.argmax(by_hand)
    assert not oracle.trainable and oracle.score_users(users).dtype == torch.float32


def test_oracle_beats_popularity_on_held_out_choices(sim):
    # the users drew their items from softmax(z_u): ranking by z_u must beat ranking by degree
    oracle = evaluate_split(UtilityOracle(sim), sim.data, "test", ks=(20,))["recall@20"]
    pop = evaluate_split(build_model("pop", sim.data), sim.data, "test", ks=(20,))["recall@20"]
    assert oracle > pop
