"""Where a cascade's gain comes from: three additive parts.

With ``m(v)`` a metric of variant ``v`` (or its gain over flat), the cascade's gain splits as

* reduction      ``= m(flat | predicted)  − m(flat)``               smaller candidate set, same heads
* extra training ``= m(flat+ | predicted) − m(flat | predicted)``   the stage-2 epochs, no routing
* specialisation ``= m(cascade | predicted) − m(flat+ | predicted)`` in-category negatives only

and the three telescope to ``total = m(cascade | predicted) − m(flat)`` exactly.
"""

from __future__ import annotations

from collections.abc import Mapping

PARTS: tuple[str, ...] = ("reduction", "extra training", "specialisation")


def gain_decomposition(m: Mapping[str, float], scale: float = 1.0) -> dict[str, float]:
    """``{reduction, extra training, specialisation, total}`` of the metric values ``m`` by
    variant (module docstring), each multiplied by ``scale`` (100: fractions → %p)."""
    f, fp = m["flat"], m["flat | predicted"]
    fpp, c = m["flat+ | predicted"], m["cascade | predicted"]
    return {"reduction": scale * (fp - f), "extra training": scale * (fpp - fp),
            "specialisation": scale * (c - fpp), "total": scale * (c - f)}
