"""What the [ITEM] token attends to: the raw last layer and attention rollout.

Both read the row of the item token (position 0) and average the heads:

* **last layer**: ``a_t = mean_h A^{(L)}_{h, 0, t}``;
* **rollout** (Abnar & Zuidema, 2020): the residual connection is modelled by mixing each layer's
  head-averaged attention with the identity, ``Â_l = ½ (A_l + I)`` (rows renormalised), and the
  layers are multiplied, ``R = Â_L Â_{L−1} ⋯ Â_1``; ``a_t = R_{0, t}``.

Hand-written (a few lines) rather than taken from a library: Captum has no attention rollout.
"""

from __future__ import annotations

import torch


def last_layer(maps: list[torch.Tensor]) -> torch.Tensor:
    """``[B, T]``: the item token's head-averaged attention in the last block."""
    return maps[-1].mean(1)[:, 0]


def rollout(maps: list[torch.Tensor]) -> torch.Tensor:
    """``[B, T]``: row 0 of the attention rollout ``R`` (module docstring)."""
    out = None
    for a in maps:
        a = a.mean(1)
        eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        a = 0.5 * (a + eye)
        a = a / a.sum(-1, keepdim=True)
        out = a if out is None else a @ out
    return out[:, 0]
