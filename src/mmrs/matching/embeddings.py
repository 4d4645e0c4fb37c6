"""Embeddings for matching: L2 normalisation, "comb" fusion and TF-IDF character n-grams.

An embedding is a float32 ``np.ndarray`` ``(n, d)``, a scipy CSR matrix (TF-IDF), or a tuple
of such *blocks* that stands for their horizontal concatenation ``[X₁ | X₂ | …]``. Blocks let a
sparse TF-IDF block and a dense MiniLM block be fused without densifying the TF-IDF part; every
operation here is defined on the concatenation, so the two views give identical results:

    ‖[x₁|x₂]‖² = ‖x₁‖² + ‖x₂‖²,   ⟨[x₁|x₂], [y₁|y₂]⟩ = ⟨x₁, y₁⟩ + ⟨x₂, y₂⟩.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

Block = np.ndarray | sp.csr_matrix
Embedding = Block | tuple[Block, ...]
FUSIONS = ("normalize_then_concat", "concat_then_normalize")


def blocks(x: Embedding) -> tuple[Block, ...]:
    """``x`` as a tuple of 2-d blocks with the same number of rows (validated)."""
    parts = x if isinstance(x, tuple) else (x,)
    if not parts:
        raise ValueError("an embedding needs at least one block")
    out = []
    for part in parts:
        if sp.issparse(part):
            part = sp.csr_matrix(part, dtype=np.float32)
        else:
            part = np.asarray(part, dtype=np.float32)
            if part.ndim != 2:
                raise ValueError(f"embedding blocks must be 2-d (n × d), got shape {part.shape}")
        out.append(part)
    rows = {p.shape[0] for p in out}
    if len(rows) != 1:
        raise ValueError(f"blocks have different numbers of rows: {[p.shape[0] for p in out]}")
    return tuple(out)


def n_rows(x: Embedding) -> int:
    """Number of rows (listings) of an embedding."""
    return blocks(x)[0].shape[0]


def squared_norms(x: Embedding) -> np.ndarray:
    """``‖x_i‖²`` of each row of the (concatenated) embedding."""
    total = np.zeros(n_rows(x), dtype=np.float64)
    for part in blocks(x):
        sq = (
            part.multiply(part).sum(axis=1).A1
            if sp.issparse(part)
            else np.einsum("ij,ij->i", part, part)
        )
        total += sq
    return total


def scale_rows(x: Embedding, factor: np.ndarray) -> Embedding:
    """Multiply row i of every block by ``factor[i]``."""
    factor = np.asarray(factor, dtype=np.float32)
    out = tuple(
        sp.csr_matrix(sp.diags(factor) @ p) if sp.issparse(p) else p * factor[:, None]
        for p in blocks(x)
    )
    return out if isinstance(x, tuple) else out[0]


def l2_normalize(x: Embedding, eps: float = 1e-12) -> Embedding:
    """Rows scaled to unit length, ``x_i / max(‖x_i‖₂, eps)``; all-zero rows stay zero.

    For a tuple of blocks the norm is that of the concatenated row.
    """
    return scale_rows(x, 1.0 / np.maximum(np.sqrt(squared_norms(x)), eps))


def comb(parts: Sequence[Embedding], fusion: str = "normalize_then_concat") -> Embedding:
    """Fuse embeddings of the same listings into one unit-norm "comb" embedding.

    ``normalize_then_concat`` (the Shopee winners' choice): ``c = [x̂₁ | … | x̂_m] / √m`` with
    ``x̂ = x/‖x‖``, so ``⟨c_i, c_j⟩ = (1/m) Σ_k cos_k(i, j)`` — the mean of the per-modality
    cosine similarities, each modality weighted equally whatever its dimension or scale.
    ``concat_then_normalize``: ``c = [x₁ | … | x_m] / ‖[x₁ | … | x_m]‖``, where a modality with
    larger raw norms dominates (the ablation's weaker variant).
    """
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}; choose one of {FUSIONS}")
    if len(parts) < 1:
        raise ValueError("comb needs at least one embedding")
    if fusion == "normalize_then_concat":
        scaled = [
            scale_rows(l2_normalize(p), np.full(n_rows(p), 1 / np.sqrt(len(parts)))) for p in parts
        ]
        return tuple(b for p in scaled for b in blocks(p))
    return l2_normalize(tuple(b for p in parts for b in blocks(p)))


def tfidf_embeddings(
    texts: Sequence[str],
    ngram_range: tuple[int, int] = (2, 4),
    min_df: int = 2,
    sublinear_tf: bool = True,
) -> sp.csr_matrix:
    """TF-IDF of character n-grams (within word boundaries), rows L2-normalised (CSR, float32).

    The classic matching baseline: weight of n-gram g in text t is
    ``tf(g, t) · idf(g)`` with ``tf = 1 + log(count)`` (sublinear) and
    ``idf(g) = ln((1 + n) / (1 + df(g))) + 1``; texts are lower-cased. n-grams seen in fewer than
    ``min_df`` texts cannot link two listings and are dropped (lowered automatically for tiny
    inputs). Model numbers such as "KDL-40" survive as n-grams, which is why this baseline is
    strong on electronics.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = list(texts)
    if not texts:
        raise ValueError("tfidf_embeddings needs at least one text")
    vectorizer = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=ngram_range,
        lowercase=True,
        min_df=min(min_df, len(texts)),
        sublinear_tf=sublinear_tf,
        dtype=np.float32,
    )
    return sp.csr_matrix(vectorizer.fit_transform(texts), dtype=np.float32)


def take_rows(x: Embedding, rows: np.ndarray) -> Embedding:
    """The embedding of a subset of listings (row indices or a boolean mask)."""
    rows = np.asarray(rows)
    if rows.dtype == bool:
        rows = np.flatnonzero(rows)
    out = tuple(sp.csr_matrix(p[rows]) if sp.issparse(p) else p[rows] for p in blocks(x))
    return out if isinstance(x, tuple) else out[0]
