"""Stage 1: predict the query's category from its text features.

A softmax classifier on the frozen 384-d MiniLM title feature ``t``,

    p(c | q) = softmax_c(W t + b),

trained with cross-entropy (Adam, full batch, seeded) on the training titles. Classes are the
category codes of the level being routed (articleType: up to 143, subCategory: up to 45).
Trained on ``device`` (default :func:`mmrs.config.device_name`); probabilities come back as CPU
NumPy arrays.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import resolve_device
from ..devices import module_device


class CategoryRouter(nn.Module):
    """``p(c | q) = softmax(W t + b)`` over ``n_classes`` categories."""

    def __init__(self, in_dim: int, n_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, n_classes)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.linear(t)

    def predict_proba(self, text: np.ndarray) -> np.ndarray:
        """``[n, n_classes]`` class probabilities for text features ``text``."""
        x = torch.from_numpy(np.asarray(text, np.float32)).to(module_device(self))
        with torch.no_grad():
            return F.softmax(self(x), dim=1).cpu().numpy()

    def top_m(self, text: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """``(codes [n, m], log p [n, m])``: the ``m`` most probable categories, best first."""
        proba = self.predict_proba(text)
        m = min(m, proba.shape[1])
        codes = np.argsort(-proba, axis=1, kind="stable")[:, :m]
        return codes, np.log(np.take_along_axis(proba, codes, axis=1) + 1e-12)


def train_router(
    text: np.ndarray, labels: np.ndarray, n_classes: int, *, epochs: int, seed: int,
    lr: float = 0.05, weight_decay: float = 1e-5, device: str | torch.device | None = None,
) -> CategoryRouter:
    """Fit :class:`CategoryRouter` by full-batch cross-entropy on ``(text, labels)`` on ``device``
    (initialised on the CPU from ``seed``, then moved; returned on ``device``)."""
    device = resolve_device(device)
    torch.manual_seed(seed)
    model = CategoryRouter(text.shape[1], n_classes).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    x = torch.from_numpy(np.asarray(text, np.float32)).to(device)
    y = torch.from_numpy(np.asarray(labels, np.int64)).to(device)
    for _ in range(epochs):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def routing_accuracy(router: CategoryRouter, text: np.ndarray, labels: np.ndarray, m: int = 1) -> float:
    """Share of queries whose true category is among the router's top ``m``."""
    codes, _ = router.top_m(text, m)
    return float((codes == np.asarray(labels)[:, None]).any(axis=1).mean())
