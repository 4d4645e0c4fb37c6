"""The two towers: locked pretrained encoders with trainable projection heads, or open_clip.

Offline default (``LockedTowers``): the photo's EfficientNet-Lite0 feature ``x ∈ R^1280`` and
the title's MiniLM feature ``t ∈ R^384`` are precomputed and frozen; only the heads are trained,

    u = g_v(x) / ‖g_v(x)‖₂,   w = g_t(t) / ‖g_t(t)‖₂,   s(t, x) = wᵀu ∈ [−1, 1],

with ``g(z) = W₂ GELU(W₁ z + b₁) + b₂`` (``hidden > 0``) or ``g(z) = W z + b`` (``hidden = 0``),
and a learnable temperature ``logit_scale = log(1/τ)`` initialised at ``log(1/0.07)`` as in CLIP.

:func:`create_openclip_towers` builds full towers by name with ``open_clip.create_model``
(pretrained weights only when asked for and available, e.g. on Colab); :data:`TINY_CLIP_CONFIG`
is a tiny randomly initialised CLIP used by the tests.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

INIT_LOGIT_SCALE = math.log(1 / 0.07)


class ProjectionHead(nn.Module):
    """``z ↦ g(z) / ‖g(z)‖₂``: a linear map or a 2-layer GELU MLP onto the unit sphere in R^dim."""

    def __init__(self, in_dim: int, dim: int = 256, hidden: int = 512) -> None:
        super().__init__()
        if hidden > 0:
            self.net: nn.Module = nn.Sequential(
                nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, dim)
            )
        else:
            self.net = nn.Linear(in_dim, dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(z), dim=-1)


class LockedTowers(nn.Module):
    """Projection heads over frozen image (1280-d) and text (384-d) features, plus ``logit_scale``."""

    def __init__(self, image_dim: int = 1280, text_dim: int = 384, dim: int = 256, hidden: int = 512):
        super().__init__()
        self.image_head = ProjectionHead(image_dim, dim, hidden)
        self.text_head = ProjectionHead(text_dim, dim, hidden)
        self.logit_scale = nn.Parameter(torch.tensor(INIT_LOGIT_SCALE))

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.image_head(x)

    def encode_text(self, t: torch.Tensor) -> torch.Tensor:
        return self.text_head(t)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(u, w, exp(logit_scale))``, the triple ``open_clip.loss.ClipLoss`` takes."""
        return self.encode_image(x), self.encode_text(t), self.logit_scale.exp()

    def copy(self) -> LockedTowers:
        """An independent deep copy (the starting point of a category-specialised head)."""
        return copy.deepcopy(self)


TINY_CLIP_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
"""A tiny ViT/Transformer CLIP (random weights) for tests: 32×32 images, 16-token texts."""


def create_openclip_towers(
    model_name: str | None = None, config: dict[str, Any] | None = None, pretrained: str | None = None
) -> tuple[nn.Module, Any, Any]:
    """``(model, preprocess, tokenizer)`` from open_clip, by name or from a model ``config``.

    ``pretrained`` (a tag such as ``"openai"``) is passed through only when given: offline it is
    unavailable and open_clip raises. With ``config`` a randomly initialised ``open_clip.CLIP``
    is built (no download); its tokenizer is the default BPE one with the config's context length.
    """
    import open_clip

    if (model_name is None) == (config is None):
        raise ValueError("give exactly one of model_name or config")
    if config is not None:
        model = open_clip.CLIP(**copy.deepcopy(config))
        size = config["vision_cfg"]["image_size"]
        preprocess = open_clip.image_transform(size, is_train=False)
        ctx = config["text_cfg"]["context_length"]
        tokenizer = open_clip.SimpleTokenizer(context_length=ctx)
        return model, preprocess, tokenizer
    model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
    return model, preprocess, open_clip.get_tokenizer(model_name)
