"""Title tokens for attention: MiniLM's WordPiece tokenizer and its (frozen) token embeddings,
with each token's *word group* so that attributions can be summed per group.

A title is split on spaces into words; every word gets a group (first match wins):

* ``brand``: the first word (fashion-sim's brand, :func:`mmrs.data.fashion_sim.eligible_products`);
* *dropped*: a word of any catalogue colour name (``Navy``, ``Blue``, ...) — removed so that
  colour is visible only in the photo (:mod:`mmrs.data.markets`);
* ``gender``: ``Men``, ``Women``, ``Boys``, ``Girls``, ``Unisex`` (and possessives);
* ``article``: a word of the item's ``articleType`` (compared lower-case, letters and digits
  only, a final ``s`` ignored: ``T-shirt`` matches ``Tshirts``);
* ``other``: the rest.

Each word is tokenized alone (``tokenizer.tokenize(word)``), so a token never spans two words;
sequences are cut at ``max_len`` tokens and padded with id 0 (group -1). The embedding of a
token is row ``id`` of MiniLM's input word-embedding table (384-d, no position embedding,
no context): ``e_t = E[id_t]``. Deliberately not the contextual encoder output — the fusion
transformer is what mixes tokens, and a frozen table keeps a token's input tied to its word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.markets import GROUPS

GENDER_WORDS = frozenset({"men", "women", "boys", "girls", "unisex", "mens", "womens"})
WORD_GROUPS: tuple[str, ...] = GROUPS[:-1]
"""Title groups, in :data:`mmrs.data.markets.GROUPS` order (the last group is the photo)."""


def _norm(word: str) -> str:
    w = re.sub(r"[^a-z0-9]", "", word.lower())
    return w[:-1] if w.endswith("s") and len(w) > 2 else w


def word_groups(title: str, article_type: str, colour_words: frozenset[str]) -> list[tuple[str, str]]:
    """``(word, group)`` for the kept words of ``title`` (module docstring)."""
    article = {_norm(w) for w in article_type.split()} | {_norm(article_type.replace(" ", ""))}
    out = []
    for k, word in enumerate(title.split()):
        n = _norm(word)
        if k == 0:
            out.append((word, "brand"))
        elif n in colour_words:
            continue
        elif n in GENDER_WORDS or word.lower().rstrip("'s") in GENDER_WORDS:
            out.append((word, "gender"))
        elif n and n in article:
            out.append((word, "article"))
        else:
            out.append((word, "other"))
    return out


@dataclass
class TitleTokens:
    """Token ids ``[n, L]`` (0 = padding), group codes ``[n, L]`` (index in
    :data:`WORD_GROUPS`, -1 = padding) and the kept words per title."""

    ids: np.ndarray
    groups: np.ndarray
    words: list[list[tuple[str, str]]]


def title_tokens(items: pd.DataFrame, colours: list[str], tokenizer, max_len: int = 16) -> TitleTokens:
    """Tokens of ``items["title"]`` (module docstring); ``colours``: every colour name whose
    words are dropped; ``tokenizer``: a Hugging Face tokenizer (MiniLM's)."""
    colour_words = frozenset(_norm(w) for c in colours for w in str(c).split())
    n = len(items)
    ids = np.zeros((n, max_len), dtype=np.int64)
    groups = np.full((n, max_len), -1, dtype=np.int64)
    words = []
    for r, (title, art) in enumerate(zip(items["title"], items["articleType"], strict=True)):
        kept = word_groups(str(title), str(art), colour_words)
        words.append(kept)
        pos = 0
        for word, group in kept:
            for tok in tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word)):
                if pos < max_len:
                    ids[r, pos], groups[r, pos] = tok, WORD_GROUPS.index(group)
                    pos += 1
    return TitleTokens(ids, groups, words)


def minilm_tokenizer_and_table(device: str | None = None) -> tuple[object, np.ndarray]:
    """MiniLM's tokenizer and its input word-embedding table ``E`` (``[30522, 384]`` float32)."""
    from .text import load_text_model

    model = load_text_model(device)  # (without transformers' weight-loading bar)
    table = model[0].auto_model.embeddings.word_embeddings.weight.detach().cpu().numpy()
    return model.tokenizer, np.ascontiguousarray(table, dtype=np.float32)
