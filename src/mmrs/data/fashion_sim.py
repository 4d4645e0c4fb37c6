"""``fashion-sim``: simulated users over the real fashion catalogue, with real item features.

No public dataset pairs user interactions with photos and titles we can use offline (MMRec's
Amazon feature files are unavailable here), so the *interactions* are simulated while the
*items* — photos, titles, attributes — are real products of ``fashion-small``. What it can show:
whether a model uses image/text features to recover tastes that are visible in them. What it
cannot show: how much real users' choices depend on what photos and titles show.

Generative story (all draws from one seeded ``numpy`` generator):

1. **Items.** ``n_items`` products drawn uniformly from the catalogue among those with a photo,
   a title and known gender, articleType, baseColour and usage. Each gets a base popularity
   ``w_i`` drawn from the empirical item-degree distribution of a real Amazon dataset
   (``amazon-clothing`` 5-core by default).
2. **Tastes.** User ``u`` gets a gender ``g_u`` (catalogue frequency), two favourite article
   types ``A_u`` (frequency among items of that gender), two favourite colours ``C_u``, a usage
   ``s_u`` and a favourite brand ``b_u`` (the title's first word, visible in the text).
3. **Choices.** With ``x_i`` the item's attributes, the utility is::

       z_ui = log w_i + β_g 1[gender_i ∈ {g_u, Unisex}] + β_a 1[type_i ∈ A_u]
              + β_c 1[colour_i ∈ C_u] + β_s 1[usage_i = s_u] + β_b 1[brand_i = b_u]

   and ``u`` picks ``n_u`` distinct items from ``softmax(z_u)`` without replacement (Gumbel
   top-``n_u``), ``n_u`` drawn from the real dataset's empirical user-degree distribution.
4. **Filtering and split.** 5-core (:func:`mmrs.data.k_core`), ids re-indexed, MMRec's split
   rule (:func:`mmrs.data.mmrec_split_labels`) with the seed.

Features (optional): MiniLM embeddings of the titles and EfficientNet-Lite0 features of the
photos of the kept items, through the feature cache (:mod:`mmrs.features`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .interactions import InteractionData, from_labelled_pairs, mmrec_split_labels
from .kcore import k_core, reindex

NAME = "fashion-sim"
SIZES: dict[str, tuple[int, int]] = {"ci": (500, 160), "medium": (6000, 2000), "full": (17000, 6500)}
"""``(n_users, n_items)`` before 5-core filtering, per size name (``full`` ~ Amazon Baby)."""
BETAS: dict[str, float] = {"gender": 3.0, "article": 2.5, "colour": 1.0, "usage": 0.7, "brand": 1.5}
ATTRIBUTES: tuple[str, ...] = ("gender", "articleType", "baseColour", "usage", "brand")


@dataclass
class FashionSim:
    """The simulated dataset, its ground truth and the real degree distributions it follows."""

    data: InteractionData
    items: pd.DataFrame
    """One row per item id (after re-indexing): ``product_id``, the attributes and ``log_w`` (the
    log base popularity of the utility)."""
    tastes: pd.DataFrame
    """One row per user id: ``gender``, ``articles`` (tuple), ``colours`` (tuple), ``usage``, ``brand``."""
    target_user_degrees: np.ndarray
    target_item_degrees: np.ndarray
    params: dict = field(default_factory=dict)


@lru_cache(maxsize=4)
def real_degrees(dataset: str = "amazon-clothing") -> tuple[np.ndarray, np.ndarray]:
    """Empirical user and item degrees (all splits) of a registered MMRec-format dataset
    (cached per process; the arrays are read-only)."""
    from .interactions import load_interactions

    data = load_interactions(dataset)
    full = data.train + data.valid + data.test
    out = np.asarray(full.getnnz(axis=1)), np.asarray(full.getnnz(axis=0))
    for a in out:
        a.flags.writeable = False
    return out


def eligible_products(catalogue) -> pd.DataFrame:
    """Catalogue rows with a photo, a title and all attributes; adds ``brand`` (first title word)."""
    p = catalogue.products
    ok = p["has_image"].to_numpy() & (p["title"].str.strip() != "").to_numpy()
    for col in ATTRIBUTES[:-1]:
        ok &= p[col].notna().to_numpy()
    out = p.loc[ok, ["gender", "articleType", "baseColour", "usage", "title"]].copy()
    out["brand"] = out["title"].str.split().str[0]
    return out


def _draw(rng: np.random.Generator, codes: np.ndarray, n_users: int, k: int, n_codes: int) -> np.ndarray:
    """``[n_users, k]`` distinct codes per user, drawn with the codes' frequencies in ``codes``."""
    freq = np.bincount(codes, minlength=n_codes).astype(np.float64)
    k = min(k, int((freq > 0).sum()))
    with np.errstate(divide="ignore"):
        log_freq = np.log(freq)
    keys = log_freq[None, :] + rng.gumbel(size=(n_users, n_codes))  # Gumbel top-k
    return np.argsort(-keys, axis=1)[:, :k]


def draw_tastes(rng: np.random.Generator, items: pd.DataFrame, n_users: int) -> pd.DataFrame:
    """Step 2 of the module docstring: one taste per user (attribute values, as labels)."""
    genders = items["gender"].to_numpy()
    choosable = np.unique(genders[genders != "Unisex"]) if (genders != "Unisex").any() else np.unique(genders)
    counts = np.array([(genders == g).sum() for g in choosable], dtype=np.float64)
    user_gender = rng.choice(choosable, size=n_users, p=counts / counts.sum())
    out = pd.DataFrame({"gender": user_gender})
    for column, name, k in (("articleType", "articles", 2), ("baseColour", "colours", 2),
                            ("usage", "usage", 1), ("brand", "brand", 1)):
        labels, codes = np.unique(items[column].to_numpy(), return_inverse=True)
        values = np.empty(n_users, dtype=object)
        for g in choosable:
            users = np.flatnonzero(user_gender == g)
            mine = (genders == g) | (genders == "Unisex")
            drawn = labels[_draw(rng, codes[mine], len(users), k, len(labels))]
            for r, u in enumerate(users):
                values[u] = tuple(drawn[r]) if k > 1 else drawn[r, 0]
        out[name] = values
    return out


def utilities(items: pd.DataFrame, log_w: np.ndarray, tastes: pd.DataFrame, betas: dict[str, float]) -> np.ndarray:
    """``z_ui`` (module docstring) for the users in ``tastes`` and all ``items``: ``[U, I]``."""

    def eq(column: str, values: Any) -> np.ndarray:
        labels, item_codes = np.unique(items[column].to_numpy().astype(str), return_inverse=True)
        values = np.asarray(values).astype(str)
        pos = np.searchsorted(labels, values).clip(0, len(labels) - 1)
        user_codes = np.where(labels[pos] == values, pos, -1)
        return item_codes[None, :] == user_codes[..., None]

    articles = np.array(tastes["articles"].tolist(), dtype=object)
    colours = np.array(tastes["colours"].tolist(), dtype=object)
    z = np.broadcast_to(log_w, (len(tastes), len(log_w))).copy()
    unisex = (items["gender"].to_numpy() == "Unisex")[None, :]
    z += betas["gender"] * (eq("gender", tastes["gender"]) | unisex)
    z += betas["article"] * eq("articleType", articles).any(axis=1)
    z += betas["colour"] * eq("baseColour", colours).any(axis=1)
    z += betas["usage"] * eq("usage", tastes["usage"])
    z += betas["brand"] * eq("brand", tastes["brand"])
    return z


def true_utilities(sim: FashionSim, users: np.ndarray | None = None) -> np.ndarray:
    """The simulation's own utilities ``z_ui`` (module docstring) of ``users`` (default: all, in
    id order) for every item, ``[len(users), n_items]``: the tastes, base popularities and betas
    the interactions were drawn with. Users chose by ``softmax(z_u)``, so ranking by ``z_u`` is what
    a model that recovered the simulation exactly would do (the attribute oracle of Chapter 5;
    the 5-core filter, applied after the draws, is the only step it ignores)."""
    users = np.arange(len(sim.tastes)) if users is None else np.asarray(users)
    return utilities(sim.items, sim.items["log_w"].to_numpy(), sim.tastes.iloc[users],
                     sim.params["betas"])


def simulate_fashion(
    n_users: int | None = None,
    n_items: int | None = None,
    size: str = "ci",
    seed: int = 2023,
    degrees_from: str = "amazon-clothing",
    betas: dict[str, float] | None = None,
    features: bool = True,
    progress: bool = True,
    catalogue=None,
    device: str | None = None,
) -> FashionSim:
    """Simulate ``fashion-sim`` (module docstring); sizes from ``SIZES[size]`` unless given.

    ``device`` is where uncached item features are extracted (:func:`item_features`); it does
    not change the simulation."""
    from .fashion import load_fashion

    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    n_users = n_users or SIZES[size][0]
    n_items = n_items or SIZES[size][1]
    betas = {**BETAS, **(betas or {})}
    rng = np.random.default_rng(seed)
    catalogue = catalogue if catalogue is not None else load_fashion()
    pool = eligible_products(catalogue)
    if n_items > len(pool):
        raise ValueError(f"n_items={n_items} exceeds the {len(pool)} eligible products")
    items = pool.iloc[np.sort(rng.choice(len(pool), size=n_items, replace=False))]
    items = items.reset_index().rename(columns={items.index.name or "index": "product_id"})
    pool_feats = item_features(catalogue, items, progress, device) if features else {}
    user_deg, item_deg = real_degrees(degrees_from)
    log_w = np.log(rng.choice(item_deg, size=n_items).astype(np.float64))
    items["log_w"] = log_w  # kept with the items: the ground truth of true_utilities
    tastes = draw_tastes(rng, items, n_users)
    n_u = np.minimum(rng.choice(user_deg, size=n_users), n_items // 2)
    users_out, items_out = [], []
    chunk = 500
    for start in tqdm(range(0, n_users, chunk), desc="fashion-sim users", disable=not progress):
        z = utilities(items, log_w, tastes.iloc[start : start + chunk], betas)
        keys = z + rng.gumbel(size=z.shape)
        k_max = int(n_u[start : start + chunk].max())
        top = np.argpartition(-keys, k_max - 1, axis=1)[:, :k_max]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, 1), axis=1), 1)
        for r in range(z.shape[0]):
            k = int(n_u[start + r])
            users_out.append(np.full(k, start + r))
            items_out.append(top[r, :k])
    users = np.concatenate(users_out).astype(np.int64)
    item_idx = np.concatenate(items_out).astype(np.int64)
    keep = k_core(users, item_idx, 5).keep
    users, user_old = reindex(users[keep])
    item_idx, item_old = reindex(item_idx[keep])
    labels = mmrec_split_labels(users, seed)
    kept_items = items.iloc[item_old].reset_index(drop=True)
    feats = {m: np.ascontiguousarray(f[item_old]) for m, f in pool_feats.items()}
    data = from_labelled_pairs(
        users, item_idx, labels, len(user_old), len(item_old), NAME, f"MMRec rule, seed {seed}", feats
    )
    return FashionSim(
        data=data,
        items=kept_items,
        tastes=tastes.iloc[user_old].reset_index(drop=True),
        target_user_degrees=user_deg,
        target_item_degrees=item_deg,
        params={"n_users": n_users, "n_items": n_items, "size": size, "seed": seed,
                "degrees_from": degrees_from, "betas": betas},
    )


def item_features(
    catalogue, items: pd.DataFrame, progress: bool = True, device: str | None = None
) -> dict[str, np.ndarray]:
    """``{"text": MiniLM(title), "image": EfficientNet-Lite0(photo)}``, rows in ``items`` order.

    Cached per list of product ids (:func:`mmrs.features.cached_features`); the simulation calls
    it on the drawn items before the 5-core filter, so the key depends only on size and seed
    (not on ``device``, where the encoders run when the cache misses).
    """
    from ..features import (
        IMAGE_ENCODER,
        TEXT_ENCODER,
        cached_features,
        image_embeddings,
        text_embeddings,
    )

    ids = [int(i) for i in items["product_id"]]
    titles = dict(zip(ids, items["title"], strict=True))
    text = cached_features(
        TEXT_ENCODER, NAME, ids,
        lambda k: text_embeddings([titles[i] for i in k], progress=progress, device=device),
        progress=progress,
    )
    image = cached_features(
        IMAGE_ENCODER, NAME, ids,
        lambda k: image_embeddings([catalogue.image(i) for i in k], progress=progress, device=device),
        chunk_size=128, progress=progress,
    )
    return {"image": image, "text": text}


def taste_hit_rates(sim: FashionSim, attribute: str = "articleType") -> dict[str, float]:
    """Share of users' interactions whose ``attribute`` matches their taste, vs. chance.

    ``observed``: over all interactions; ``chance``: the same share if each user's items were
    drawn uniformly from the items (the mean over users of the matching items' share).
    """
    column = {"articleType": "articles", "baseColour": "colours"}[attribute]
    full = (sim.data.train + sim.data.valid + sim.data.test).tocoo()
    values = sim.items[attribute].to_numpy().astype(str)
    taste = np.array(sim.tastes[column].tolist()).astype(str)  # [U, 2]
    hit = (values[full.col][:, None] == taste[full.row]).any(axis=1)
    share = pd.Series(values).value_counts(normalize=True)
    chance = np.nansum(np.vectorize(lambda v: share.get(v, 0.0))(taste), axis=1)
    return {"observed": float(hit.mean()), "chance": float(chance.mean())}
