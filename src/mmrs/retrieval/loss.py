"""The symmetric contrastive (InfoNCE) loss of CLIP, through ``open_clip.loss.ClipLoss``.

For a batch of B matched pairs with unit image vectors ``u_i``, text vectors ``w_i`` and
``s = exp(logit_scale)``, the logits are ``L_ij = s · u_iᵀ w_j`` and

    ℒ = ½ [ (1/B) Σ_i −log softmax_j(L_ij)[i]  +  (1/B) Σ_i −log softmax_j(L_ji)[i] ],

cross-entropy with the diagonal as target, image→text and text→image averaged.
"""

from __future__ import annotations

import numpy as np
import torch


def clip_loss(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """ℒ above with ``open_clip.loss.ClipLoss`` (single process); ``scale = exp(logit_scale)``."""
    from open_clip.loss import ClipLoss

    return ClipLoss()(image, text, scale)


def clip_loss_numpy(image: np.ndarray, text: np.ndarray, scale: float) -> float:
    """The same ℒ in NumPy (log-sum-exp form), the reference the tests compare against."""
    logits = scale * np.asarray(image, np.float64) @ np.asarray(text, np.float64).T

    def ce(z: np.ndarray) -> float:
        m = z.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
        return float(np.mean(lse - np.diag(z)))

    return 0.5 * (ce(logits) + ce(logits.T))
