"""Attributions of a score ``s(u, i)`` to each input token, with Captum.

A model exposes ``score_inputs(text, regions, users, text_mask, keep=...)`` (the raw inputs
first) and ``inputs(items)``; token order is ``title tokens (L), regions (R)``.

* **Integrated gradients** (Sundararajan et al., 2017), ``captum.attr.IntegratedGradients`` with
  a zero baseline ``x'``::

      IG_j(x) = (x_j − x'_j) ∫_0^1 ∂s(x' + α (x − x')) / ∂x_j dα

  summed over each token's embedding dimensions. *Completeness*: ``Σ_j IG_j = s(x) − s(x')``;
  Captum's ``convergence delta`` is the difference between the two sides (the Riemann/Gauss-
  Legendre approximation error), returned for checking.
* **Token occlusion**: ``captum.attr.FeatureAblation`` with one feature per token (its whole
  embedding replaced by zeros): ``o_t = s(x) − s(x with token t zeroed)``.
* **Modality ablation**: ``s(x) − s(x without modality m)``, the modality's tokens removed
  (masked out of attention, or out of the mean) through the model's ``keep`` argument.
"""

from __future__ import annotations

import torch


def _forward(model):
    def f(text, regions, users, text_mask):
        return model.score_inputs(text, regions, users, text_mask)
    return f


def integrated_gradients(model, users: torch.Tensor, items: torch.Tensor, n_steps: int = 64,
                         internal_batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """``(token attributions [B, L + R], convergence delta [B])`` (module docstring); the
    ``B · n_steps`` scaled inputs are evaluated ``internal_batch_size`` at a time (memory)."""
    from captum.attr import IntegratedGradients

    text, regions, mask = model.inputs(items)
    ig = IntegratedGradients(_forward(model))
    (a_text, a_regions), delta = ig.attribute(
        (text, regions), baselines=(torch.zeros_like(text), torch.zeros_like(regions)),
        additional_forward_args=(users, mask), n_steps=n_steps, return_convergence_delta=True,
        internal_batch_size=internal_batch_size)
    return torch.cat([a_text.sum(-1), a_regions.sum(-1)], dim=1).detach(), delta.detach()


def token_occlusion(model, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """``[B, L + R]``: score drop when each token's input is replaced by zeros (Captum's
    ``FeatureAblation``, one feature per token)."""
    from captum.attr import FeatureAblation

    text, regions, mask = model.inputs(items)
    n_t, n_r = text.shape[1], regions.shape[1]
    ids_t = torch.arange(n_t, device=text.device).view(1, n_t, 1).expand(1, n_t, text.shape[2])
    ids_r = (n_t + torch.arange(n_r, device=text.device)).view(1, n_r, 1).expand(
        1, n_r, regions.shape[2])
    a_text, a_regions = FeatureAblation(_forward(model)).attribute(
        (text, regions), baselines=(torch.zeros_like(text[:1]), torch.zeros_like(regions[:1])),
        additional_forward_args=(users, mask),
        feature_mask=(ids_t.contiguous(), ids_r.contiguous()))
    return torch.cat([a_text[..., 0], a_regions[..., 0]], dim=1).detach()


@torch.no_grad()
def modality_ablation(model, users: torch.Tensor, items: torch.Tensor,
                      modalities: tuple[str, ...] = ("text", "image")) -> dict[str, torch.Tensor]:
    """``{m: s(x) − s(x without m)}`` per pair ``[B]`` (module docstring)."""
    text, regions, mask = model.inputs(items)
    full = model.score_inputs(text, regions, users, mask)
    return {m: full - model.score_inputs(text, regions, users, mask,
                                         keep=tuple(k for k in modalities if k != m))
            for m in modalities}
