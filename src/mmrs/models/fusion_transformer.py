"""A small multimodal transformer over title tokens and image regions, and its no-attention twin.

Each item is a sequence of tokens (Chapter 8)::

    x_0 = c                                               a learned [ITEM] token
    x_t = W_T e_t + m_T                 t = 1..L          title tokens (e_t: frozen MiniLM rows)
    x_r = W_R r_r + m_R + p_r           r = 1..R          image regions (EfficientNet-Lite0 grid)

``m_T``, ``m_R`` are modality embeddings and ``p_r`` region-position embeddings. ``n_layers``
pre-norm transformer blocks (``x ← x + MHA(LN x)``, ``x ← x + FFN(LN x)``; padding tokens are
masked out of attention) fuse them; the item vector is ``h_i = LN(x_0)`` after the last block,
and the score of user ``u`` is ``s(u, i) = p_u · h_i`` with a free user vector ``p_u``. There is
deliberately **no item-ID embedding**: the item vector comes from its title and photo only, so
that every bit of the score can be traced back to an input token.

:class:`MeanFusion` (the no-attention baseline) uses the same projections and replaces the blocks
by mean pooling per modality: ``h_i = W_O GELU([mean_t x_t ; mean_r x_r])``.

Loss: BPR with one sampled negative and an L2 (Frobenius, MMRec's ``EmbLoss``) term on the
batch's user vectors, ``L = −mean log σ(s_ui − s_uj) + λ ‖P_u‖ / B``; trained by
:func:`mmrs.train.train` like every model of the book.

The attention is ``torch.nn.MultiheadAttention`` (asked for per-head weights); written as a
small block rather than ``nn.TransformerEncoderLayer`` because that layer does not return its
attention weights, which Chapter 8 reads.

Inputs for attribution: :meth:`FusionTransformer.score_inputs` takes the raw input tensors
(``text`` ``[B, L, 384]``, ``regions`` ``[B, R, 1280]``), so Captum can attribute the score to
every token and region; ``keep`` removes a modality (its tokens are masked out of attention, or
left out of the mean).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .base import ModelConfig, Recommender, bpr_loss, check_float, check_int, emb_loss, make_config

MODALITY_NAMES: tuple[str, ...] = ("text", "image")


@dataclass(frozen=True)
class FusionConfig(ModelConfig):
    """Hyper-parameters of :class:`FusionTransformer` and :class:`MeanFusion`
    (``n_layers``/``n_heads``/``dropout`` are unused by the mean baseline)."""

    embedding_dim: int = 64
    n_layers: int = 2
    n_heads: int = 2
    dropout: float = 0.1
    reg_weight: float = 1e-4

    def __post_init__(self) -> None:
        self._set("embedding_dim", check_int("embedding_dim", self.embedding_dim, 1))
        self._set("n_layers", check_int("n_layers", self.n_layers, 1))
        self._set("n_heads", check_int("n_heads", self.n_heads, 1))
        self._set("dropout", check_float("dropout", self.dropout, 0.0, 1.0, high_open=True))
        self._set("reg_weight", check_float("reg_weight", self.reg_weight, 0.0))
        if self.embedding_dim % self.n_heads:
            raise ValueError(f"embedding_dim ({self.embedding_dim}) must be divisible by "
                             f"n_heads ({self.n_heads})")


class Block(nn.Module):
    """One pre-norm transformer block that also returns its attention weights ``[B, H, T, T]``."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.norm1(x)
        out, weights = self.attn(y, y, y, key_padding_mask=pad, need_weights=True,
                                 average_attn_weights=False)
        x = x + self.drop(out)
        return x + self.drop(self.ffn(self.norm2(x))), weights


class _ContentModel(Recommender):
    """Shared parts: frozen item inputs as buffers, projections, users, loss and evaluation."""

    def __init__(self, n_users: int, text: np.ndarray, text_mask: np.ndarray, regions: np.ndarray,
                 config: FusionConfig | None = None, **kwargs) -> None:
        super().__init__(n_users, len(text))
        self.config = make_config(FusionConfig, config, **kwargs)
        d = self.config.embedding_dim
        self.register_buffer("text", torch.as_tensor(np.asarray(text, np.float32)))
        self.register_buffer("text_mask", torch.as_tensor(np.asarray(text_mask, bool)))
        self.register_buffer("regions", torch.as_tensor(np.asarray(regions, np.float32)))
        self.user = nn.Embedding(n_users, d)
        self.proj_text = nn.Linear(self.text.shape[-1], d)
        self.proj_image = nn.Linear(self.regions.shape[-1], d)
        self.modality = nn.Parameter(torch.zeros(2, d))
        self.position = nn.Parameter(torch.zeros(self.regions.shape[1], d))

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                module.reset_parameters()
            elif isinstance(module, nn.MultiheadAttention):
                module._reset_parameters()
        nn.init.xavier_uniform_(self.user.weight)
        for p in (self.modality, self.position):
            nn.init.normal_(p, std=0.02)

    def inputs(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The raw inputs of ``items``: ``(text [B, L, 384], regions [B, R, 1280], text_mask)``."""
        return self.text[items], self.regions[items], self.text_mask[items]

    def _tokens(self, text: torch.Tensor, regions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.proj_text(text) + self.modality[0]
        r = self.proj_image(regions) + self.modality[1] + self.position
        return t, r

    def item_vectors(self, text, regions, text_mask, keep=MODALITY_NAMES) -> torch.Tensor:
        raise NotImplementedError

    def score_inputs(self, text: torch.Tensor, regions: torch.Tensor, users: torch.Tensor,
                     text_mask: torch.Tensor, keep: tuple[str, ...] = MODALITY_NAMES) -> torch.Tensor:
        """``s(u, i)`` from raw inputs ``[B]`` (the inputs first, for Captum)."""
        return (self.user(users) * self.item_vectors(text, regions, text_mask, keep)).sum(-1)

    def _items(self, items: torch.Tensor) -> torch.Tensor:
        return self.item_vectors(*self.inputs(items))

    def calculate_loss(self, users, pos, neg) -> torch.Tensor:
        both = torch.cat([pos, neg])
        unique, inverse = torch.unique(both, return_inverse=True)
        h = self._items(unique)[inverse]
        p = self.user(users)
        hp, hn = h[: len(pos)], h[len(pos):]
        loss = bpr_loss((p * hp).sum(-1), (p * hn).sum(-1))
        return loss + self.config.reg_weight * emb_loss(p)

    def compute_eval_cache(self) -> tuple[torch.Tensor, ...]:
        items = torch.arange(self.n_items, device=self.text.device)
        return (torch.cat([self._items(chunk) for chunk in items.split(1024)]),)

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        return self.user(users) @ self.eval_cache()[0].T


class FusionTransformer(_ContentModel):
    """Self-attention fusion of title tokens and image regions (module docstring)."""

    name = "fusion-transformer"

    def __init__(self, n_users, text, text_mask, regions, config=None, **kwargs) -> None:
        super().__init__(n_users, text, text_mask, regions, config, **kwargs)
        c = self.config
        self.cls = nn.Parameter(torch.zeros(1, 1, c.embedding_dim))
        self.blocks = nn.ModuleList(Block(c.embedding_dim, c.n_heads, c.dropout)
                                    for _ in range(c.n_layers))
        self.norm = nn.LayerNorm(c.embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        nn.init.normal_(self.cls, std=0.02)

    def encode(self, text, regions, text_mask, keep=MODALITY_NAMES):
        """``(x_0 after the last block [B, d], per-block attention [B, H, T, T] list)``; token
        order ``[ITEM], title tokens (L), regions (R)``."""
        t, r = self._tokens(text, regions)
        b = text.shape[0]
        x = torch.cat([self.cls.expand(b, -1, -1), t, r], dim=1)
        keep_t = text_mask if "text" in keep else torch.zeros_like(text_mask)
        keep_r = torch.full(r.shape[:2], "image" in keep, dtype=torch.bool, device=x.device)
        ones = torch.ones(b, 1, dtype=torch.bool, device=x.device)
        pad = ~torch.cat([ones, keep_t, keep_r], dim=1)
        maps = []
        for block in self.blocks:
            x, w = block(x, pad)
            maps.append(w)
        return x[:, 0], maps

    def item_vectors(self, text, regions, text_mask, keep=MODALITY_NAMES) -> torch.Tensor:
        return self.norm(self.encode(text, regions, text_mask, keep)[0])

    def attention_maps(self, text, regions, text_mask) -> list[torch.Tensor]:
        """Per-block attention weights ``[B, H, T, T]`` (rows: queries; padded keys get 0)."""
        return self.encode(text, regions, text_mask)[1]


class MeanFusion(_ContentModel):
    """The no-attention baseline: mean-pooled modalities (module docstring)."""

    name = "mean-fusion"

    def __init__(self, n_users, text, text_mask, regions, config=None, **kwargs) -> None:
        super().__init__(n_users, text, text_mask, regions, config, **kwargs)
        d = self.config.embedding_dim
        self.out = nn.Sequential(nn.GELU(), nn.Linear(2 * d, d))
        self.reset_parameters()

    def item_vectors(self, text, regions, text_mask, keep=MODALITY_NAMES) -> torch.Tensor:
        t, r = self._tokens(text, regions)
        m = text_mask.unsqueeze(-1).to(t.dtype)
        mean_t = (t * m).sum(1) / m.sum(1).clamp(min=1)
        mean_r = r.mean(1)
        if "text" not in keep:
            mean_t = torch.zeros_like(mean_t)
        if "image" not in keep:
            mean_r = torch.zeros_like(mean_r)
        return self.out(torch.cat([mean_t, mean_r], dim=-1))
