"""``fashion-markets``: two simulated markets over the same real catalogue, with known answers.

The question of Chapter 8 (from the JITAM 2025 paper): which factor, in which modality, drives
consumers' choices in one market and not in another? Real multi-market behaviour data is not
available here, so each market is a :mod:`fashion-sim <mmrs.data.fashion_sim>` run whose utility
weights ``β`` are *planted* and stored: the true importance of every factor is known.

Both markets are :func:`~mmrs.data.fashion_sim.simulate_fashion` with the **same** seed, sizes and
catalogue and only the weights changed: the same products, base popularities, user tastes, user
degrees and Gumbel noise (common random numbers), so any difference between the markets' data —
and between models trained on it — comes from the planted weights alone. Degree distributions,
5-core filtering, sparsity and MMRec's split rule are fashion-sim's. The utility of user ``u``
for item ``i`` in market ``m`` is fashion-sim's::

    z_ui^m = log w_i + Σ_f β_f^m 1[item i has u's value of factor f]

with factors ``f ∈ {gender, article, colour, usage, brand}`` and the weights of :data:`MARKETS`:

* ``looks`` — colour matters (``β_colour = 2.5``), brand does not: visible in the **photo**.
* ``names`` — the brand matters (``β_brand = 2.5``), colour does not: the title's first word,
  visible only in the **text**.
* shared: gender (3.0) and article type (2.5), visible in both; usage is switched off (0) in both
  so that every factor with weight maps to a place in the inputs (:data:`GROUP_OF_FACTOR`).

Where each factor is visible (the model's inputs, :mod:`mmrs.features.tokens`): the title
without its colour words (removed so that colour is seen only in the photo), split into word
groups ``brand`` (first word), ``gender`` and ``article`` words and ``other`` words; and the
``photo`` (image regions), which shows colour — and also article type and gender, which is why
the mapping of truth to groups is an approximation the chapter discusses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .fashion_sim import FashionSim, simulate_fashion

NAME = "fashion-markets"
MARKETS: dict[str, dict[str, float]] = {
    "looks": {"gender": 3.0, "article": 2.5, "colour": 2.5, "usage": 0.0, "brand": 0.0},
    "names": {"gender": 3.0, "article": 2.5, "colour": 0.0, "usage": 0.0, "brand": 2.5},
}
"""Planted utility weights ``β_f`` per market."""
SIZES: dict[str, tuple[int, int]] = {"ci": (400, 150), "full": (2500, 700)}
"""``(n_users, n_items)`` before 5-core filtering, per profile."""
GROUPS: tuple[str, ...] = ("brand", "gender", "article", "other", "photo")
"""Input groups an attribution is summed over (title word groups and the photo's regions)."""
GROUP_OF_FACTOR: dict[str, str] = {"brand": "brand", "gender": "gender", "article": "article",
                                   "colour": "photo"}
"""Where a factor is visible *only or first*: brand in the first title word, colour in the photo
(colour words are removed from the titles), gender and article type in their title words (they
are also visible in the photo)."""


@dataclass
class Market:
    """One simulated market: its planted weights and the fashion-sim run they produced."""

    name: str
    betas: dict[str, float]
    sim: FashionSim


def planted_group_weights(betas: dict[str, float]) -> dict[str, float]:
    """The true importance of each input group: ``β_f`` of the factor shown there (0 for
    ``other`` words, which show no planted factor)."""
    out = dict.fromkeys(GROUPS, 0.0)
    for factor, group in GROUP_OF_FACTOR.items():
        out[group] += float(betas[factor])
    return out


def simulate_markets(
    size: str = "ci",
    seed: int = 2023,
    markets: dict[str, dict[str, float]] | None = None,
    catalogue=None,
    progress: bool = False,
) -> dict[str, Market]:
    """Every market of ``markets`` (default :data:`MARKETS`) simulated with the same seed and
    sizes ``SIZES[size]`` (module docstring). Features are not extracted here
    (:mod:`mmrs.features.tokens` and :mod:`mmrs.features.regions` build the model's inputs)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    from .fashion import load_fashion

    catalogue = catalogue if catalogue is not None else load_fashion()
    n_users, n_items = SIZES[size]
    out = {}
    for name, betas in (markets or MARKETS).items():
        # fashion-sim's ``size`` only names its default sizes; ours are given explicitly
        sim = simulate_fashion(n_users=n_users, n_items=n_items, size="ci", seed=seed,
                               betas=betas, features=False, progress=progress, catalogue=catalogue)
        sim.params["size"] = size
        sim.params["market"] = name
        out[name] = Market(name, dict(sim.params["betas"]), sim)
    return out


def union_items(markets: dict[str, Market]) -> pd.DataFrame:
    """The products kept in any market (one row per ``product_id``, sorted), for features."""
    frames = [m.sim.items for m in markets.values()]
    items = pd.concat(frames).drop_duplicates("product_id").sort_values("product_id")
    return items.reset_index(drop=True)


def rows_of(market: Market, products: pd.DataFrame) -> np.ndarray:
    """Row of each of ``market``'s items (item-id order) in ``products`` (by ``product_id``)."""
    pos = pd.Index(products["product_id"]).get_indexer(market.sim.items["product_id"])
    if (pos < 0).any():
        raise ValueError("products lacks some of the market's items")
    return pos


def factor_hit_rates(market: Market) -> dict[str, float]:
    """Share of the market's interactions (all splits) whose item has the user's brand, and
    whose colour is one of the user's two colours: the planted factors, seen in the choices."""
    sim = market.sim
    full = (sim.data.train + sim.data.valid + sim.data.test).tocoo()
    brand = sim.items["brand"].to_numpy().astype(str)[full.col]
    colour = sim.items["baseColour"].to_numpy().astype(str)[full.col]
    user_brand = sim.tastes["brand"].to_numpy().astype(str)[full.row]
    user_colours = np.array(sim.tastes["colours"].tolist()).astype(str)[full.row]
    return {"brand": float((brand == user_brand).mean()),
            "colour": float((colour[:, None] == user_colours).any(axis=1).mean())}
