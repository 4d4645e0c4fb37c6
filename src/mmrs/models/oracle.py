"""The attribute oracle: scores with the simulated users' true utilities (a ceiling, not a model).

On ``fashion-sim`` (:mod:`mmrs.data.fashion_sim`) user ``u`` chose items from
``softmax(z_u)`` with::

    z_ui = log w_i + β_g 1[gender] + β_a 1[type ∈ A_u] + β_c 1[colour ∈ C_u]
           + β_s 1[usage] + β_b 1[brand]

The oracle's score is ``s(u, i) = z_ui`` itself (:func:`mmrs.data.fashion_sim.true_utilities`):
it knows every user's tastes, the items' base popularity and the betas. No recommender sees
these, so its metrics are what ranking by the generating utility reaches on the held-out
interactions — the ceiling of the simulation (not 1: the choices were random draws).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..data.fashion_sim import true_utilities
from .base import ModelConfig, Recommender


@dataclass(frozen=True)
class OracleConfig(ModelConfig):
    """:class:`UtilityOracle` has no hyper-parameters."""


class UtilityOracle(Recommender):
    """Ranks every item by the simulation's true utility ``z_ui`` (module docstring)."""

    name = "oracle"
    needs_negatives = False
    config: OracleConfig

    def __init__(self, sim: Any) -> None:
        """``sim``: a :class:`~mmrs.data.fashion_sim.FashionSim` (its data, tastes and items)."""
        super().__init__(sim.data.n_users, sim.data.n_items)
        self.config = OracleConfig()
        self._sim = sim
        self.register_buffer("_anchor", torch.zeros(()))  # the device and dtype scores go to

    def calculate_loss(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None
    ) -> torch.Tensor:
        """Zero: the oracle has nothing to learn."""
        return self._anchor.new_zeros(())

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        """``[b, n_items]``: ``z_ui`` for the batch's users."""
        z = true_utilities(self._sim, users.cpu().numpy())
        return torch.from_numpy(z).to(self._anchor)
