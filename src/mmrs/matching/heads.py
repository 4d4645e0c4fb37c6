"""Projection heads trained with an ArcFace margin on the training groups (frozen encoders below).

The Shopee winners trained their encoders with ArcFace before any thresholding. Here the
encoders stay frozen (a CPU budget: fine-tuning MiniLM itself is out of reach in a few minutes
per record) and a small head is trained on top of each view's features:

    z = normalize(W₂ · GELU(W₁ x + b₁) + x W_s)       (an MLP with a linear skip),

with pytorch-metric-learning's ``ArcFaceLoss`` (a well-kept implementation, not our own): every
training group c has a learned unit centre w_c, and with θ_c the angle between z and w_c the loss
is the softmax cross-entropy of the logits

    s · cos(θ_y + m)  for the listing's own group y,    s · cos θ_c  for every other group,

so a listing must be closer to its own centre by an *angular margin* m than to any other
(Deng et al., CVPR 2019). ``margin`` is in **degrees**, as pytorch-metric-learning takes it
(28.6° ≈ 0.5 rad, the paper's value); ``scale`` is s. Groups with a single listing are kept as
classes of their own: they teach the head what a *non*-match looks like.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

HEAD_DIM = 128
MARGINS_DEG = (0.0, 10.0, 20.0, 28.6, 40.0)
"""The margin grid (degrees) of the margin curve."""
SCALES = (16.0, 32.0)


class ProjectionHead(nn.Module):
    """``normalize(MLP(x) + skip(x))``, output dimension ``dim`` (see the module docstring)."""

    def __init__(self, d_in: int, dim: int = HEAD_DIM, hidden: int = 256) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.skip = nn.Linear(d_in, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.mlp(x) + self.skip(x), dim=1)


@dataclass
class HeadFit:
    """A trained head, its settings and its loss per epoch."""

    head: ProjectionHead
    margin: float
    scale: float
    losses: list[float]

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Project features ``x`` (n × d_in) to unit vectors (n × dim), float32."""
        self.head.eval()
        with torch.no_grad():
            return self.head(torch.as_tensor(np.asarray(x, dtype=np.float32))).cpu().numpy()


def train_head(
    x: np.ndarray,
    labels: np.ndarray,
    margin: float = 28.6,
    scale: float = 32.0,
    dim: int = HEAD_DIM,
    epochs: int = 40,
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
) -> HeadFit:
    """Train a :class:`ProjectionHead` on ``x`` with ArcFace over the group ``labels``.

    Adam on the head and the class centres together; mini-batches from a seeded shuffle, so the
    same seed gives the same head. ``x`` is standardised by the caller if needed.
    """
    from pytorch_metric_learning.losses import ArcFaceLoss

    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) != len(labels):
        raise ValueError(f"x must be (n, d) with one label per row; got {x.shape}, {len(labels)}")
    if margin < 0 or scale <= 0:
        raise ValueError(f"margin must be >= 0 and scale > 0, got {margin}, {scale}")
    _, y = np.unique(np.asarray(labels), return_inverse=True)
    torch.manual_seed(seed)
    head = ProjectionHead(x.shape[1], dim)
    loss_fn = ArcFaceLoss(num_classes=int(y.max()) + 1, embedding_size=dim, margin=margin,
                          scale=scale)
    opt = torch.optim.Adam([*head.parameters(), *loss_fn.parameters()], lr=lr)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    head.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for start in range(0, len(xt), batch_size):
            idx = order[start:start + batch_size]
            loss = loss_fn(head(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(xt))
    return HeadFit(head, float(margin), float(scale), losses)
