"""Diagnostics for BM3: representation collapse, and accuracy on rare items.

*Collapse.* Without negatives the trivial solution ``h̃_u = h̃_i = c`` minimises ``L_rec``.
Two measures on the L2-normalised scoring embeddings ``z = h̃ / ‖h̃‖`` of all users and items:

* ``mean_cosine``: the mean pairwise cosine ``(‖Σ z‖² − n) / (n(n − 1))`` (1 when collapsed);
* ``std``: the per-dimension standard deviation of ``z`` averaged over the dimensions
  (SimSiam's measure: about ``1/√d`` for spread-out vectors, 0 when collapsed).

*Rare items.* ``Recall@K`` restricted to test interactions whose item has at most
``max_train_degree`` training interactions: the relevant set of a user is its rare test items
only, and users without any are left out. Two candidate sets (training items always masked, as
in :func:`mmrs.metrics.evaluate_split`):

* ``candidates="all"``: every item is ranked, so a rare item must beat the popular ones to count
  — the number a user would see, usually near 0 for every model;
* ``candidates="rare"``: only rare items are ranked (the others get score ``-inf``), which asks
  whether the model orders the long tail well — where ID embeddings have seen few
  interactions and content features could help.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from ..devices import module_device
from ..metrics import rare_item_metrics, rare_items  # noqa: F401 (re-exported for the chapter)
from ..models.bm3 import BM3


def collapse_stats(embeddings: torch.Tensor) -> dict[str, float]:
    """``mean_cosine`` and ``std`` (module docstring) of the rows of ``embeddings``."""
    z = torch.nn.functional.normalize(embeddings.detach().double(), dim=1)
    n = z.shape[0]
    total = z.sum(dim=0)
    mean_cos = (total @ total - n) / (n * (n - 1))
    return {"mean_cosine": float(mean_cos), "std": float(z.std(dim=0).mean())}


def model_collapse_stats(model: BM3) -> dict[str, float]:
    """:func:`collapse_stats` of the scoring embeddings ``[h̃_U; h̃_I]`` of ``model``."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        p_users, p_items = model.compute_eval_cache()
    model.train(was_training)
    return collapse_stats(torch.cat([p_users, p_items]))


def collapse_curve(
    model: BM3, data: Any, steps: int = 60, batch_size: int = 512, lr: float = 1e-3, seed: int = 0
) -> list[dict[str, float]]:
    """Train ``model`` for ``steps`` Adam steps on ``data``'s training pairs; collapse stats
    before the first and after every step (``step``, ``loss``, ``mean_cosine``, ``std``)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model.reset_parameters()
    users, items = data.pairs("train")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    curve = [{"step": 0, "loss": float("nan"), **model_collapse_stats(model)}]
    model.train()
    for step in range(1, steps + 1):
        idx = rng.choice(len(users), size=min(batch_size, len(users)), replace=False)
        optimizer.zero_grad(set_to_none=True)
        device = module_device(model)  # batches follow the model
        loss = model.calculate_loss(
            torch.from_numpy(users[idx]).to(device), torch.from_numpy(items[idx]).to(device)
        )
        loss.backward()
        optimizer.step()
        curve.append({"step": step, "loss": float(loss.detach()), **model_collapse_stats(model)})
    return curve


def collapse_summary(curves: dict[str, Any], last: int = 100, threshold: float = 0.95) -> Any:
    """One row per :func:`collapse_curve` (``curves``: label -> its rows or a DataFrame): the peak
    ``mean_cosine`` and the step it is reached at, the first step at or above ``threshold``
    (missing if never), the mean over the ``last`` steps (where the curve settles) and the
    final value; ``attrs["threshold"]`` holds ``threshold``."""
    import pandas as pd

    rows = {}
    for label, curve in curves.items():
        c = pd.DataFrame(curve)
        cos = c["mean_cosine"].to_numpy()
        above = np.flatnonzero(cos >= threshold)
        rows[label] = {
            "peak": float(cos.max()),
            "peak step": int(c["step"].iloc[int(cos.argmax())]),
            f"first step ≥ {threshold:g}": int(c["step"].iloc[above[0]]) if len(above) else None,
            f"mean, last {last} steps": float(cos[-last:].mean()),
            "final": float(cos[-1]),
        }
    out = pd.DataFrame(rows).T
    for column in ("peak step", f"first step ≥ {threshold:g}"):
        out[column] = out[column].astype("Int64")
    out.attrs["threshold"] = threshold
    return out


def tiny_example(**kwargs: Any) -> BM3:
    """The chapter's hand-checkable model: users u0-i0, u1-i1, 0 layers, dropout 0, identity
    predictor and projection, ``E_U = [[1,0],[0,1]]``, ``E_I = [[1,1],[0,1]]``, image features
    ``[[1,0],[1,1]]``, ``λ = 0.1`` (``kwargs`` override BM3's settings)."""
    train = sp.csr_matrix(np.eye(2, dtype=np.float32))
    feats = {"image": np.array([[1.0, 0.0], [1.0, 1.0]], dtype=np.float32)}
    settings = {"embedding_dim": 2, "feat_embed_dim": 2, "n_layers": 0, "dropout": 0.0, "reg_weight": 0.1}
    model = BM3(train, feats, **{**settings, **kwargs})
    with torch.no_grad():
        model.user_embedding.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        model.item_embedding.copy_(torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
        for layer in (model.predictor, *model.projections.values()):
            layer.weight.copy_(torch.eye(2))
            layer.bias.zero_()
    return model
