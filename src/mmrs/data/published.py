"""Published dataset figures from the book's sources, with where each comes from.

These are *inputs* the chapters compare against (never results of this library). Each row says
which document reports it: the BM3 paper (Zhou et al., WWW 2023), the FREEDOM paper (Zhou and
Shen, ACM MM 2023) and MMRec's data files, and the write-up of an award-winning entry to the
2023 Inha AI Challenge, which reports "190k users, 63k items, 1.25M interactions, sparsity
99.9861 %" in Korean (rounded counts). The book shows them beside the numbers
:mod:`mmrs.data.stats` computes on the real files.
"""

from __future__ import annotations

import pandas as pd

PUBLISHED_DATASETS: list[dict[str, object]] = [
    {
        "dataset": "Inha AI Challenge 2023",
        "users": 190_000,
        "items": 63_000,
        "interactions": 1_250_000,
        "sparsity_%": 99.9861,
        "source": "an award entry's write-up (rounded counts)",
    },
    {
        "dataset": "Amazon Baby (BM3 paper)",
        "users": 19_445,
        "items": 7_050,
        "interactions": 160_792,
        "sparsity_%": 99.88,
        "source": "BM3 paper, Table 2; MMRec's baby.inter",
    },
    {
        "dataset": "Amazon Sports (BM3 paper)",
        "users": 35_598,
        "items": 18_357,
        "interactions": 296_337,
        "sparsity_%": 99.95,
        "source": "BM3 paper, Table 2; MMRec's sports.inter",
    },
    {
        "dataset": "Amazon Electronics (BM3 paper)",
        "users": 192_403,
        "items": 63_001,
        "interactions": 1_689_188,
        "sparsity_%": 99.99,
        "source": "BM3 paper, Table 2 (data not available here)",
    },
    {
        "dataset": "Amazon Clothing (MMRec)",
        "users": 39_387,
        "items": 23_033,
        "interactions": 278_677,
        "sparsity_%": 99.97,
        "source": "MMRec's clothing.inter (FREEDOM paper, Table 1)",
    },
]


def published_table() -> pd.DataFrame:
    """The published figures as a table indexed by dataset."""
    return pd.DataFrame(PUBLISHED_DATASETS).set_index("dataset")


def sparsity(users: float, items: float, interactions: float) -> float:
    """``1 - interactions / (users * items)``, as a fraction."""
    return 1.0 - interactions / (users * items)
