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


PUBLISHED_MATCHING: list[dict[str, object]] = [
    {"method": "JedAI, schema-agnostic", "setting": "all pairs, no candidates given; unsupervised",
     "abt-buy": 90.0, "amazon-google": 60.7, "source": "DIAL paper (PVLDB 2021), Table 2",
     "cite": "papadakis2018jedai"},
    {"method": "DIAL", "setting": "all pairs, no candidates given; ~1.4k actively labelled pairs",
     "abt-buy": 92.3, "amazon-google": 82.1, "source": "DIAL paper (PVLDB 2021), Table 2",
     "cite": "jain2021dial"},
    {"method": "Ditto", "setting": "supervised on given candidate pairs",
     "abt-buy": 89.3, "amazon-google": 75.6, "source": "Ditto paper (PVLDB 2020)",
     "cite": "li2020ditto"},
    {"method": "ZeroER", "setting": "unsupervised, no labels (approximate figures)",
     "abt-buy": 52.0, "amazon-google": 48.0, "source": "ZeroER paper (SIGMOD 2020)",
     "cite": "wu2020zeroer"},
]
"""Published pair-level F1 (%) on Abt-Buy and Amazon-Google, quoted as the papers report them
(inputs, not results). Their ground-truth versions differ slightly from the Leipzig files used here,
and none of them is evaluated on our test groups: they anchor the scale, not a ranking."""


def published_matching_table() -> pd.DataFrame:
    """:data:`PUBLISHED_MATCHING` as a table indexed by method."""
    return pd.DataFrame(PUBLISHED_MATCHING).set_index("method")


MMREC_BABY: dict[str, dict[str, float]] = {
    "bpr": {"recall@20": 0.0575, "ndcg@20": 0.0249},
    "lightgcn": {"recall@20": 0.0754, "ndcg@20": 0.0328},
    "vbpr": {"recall@20": 0.0663, "ndcg@20": 0.0284},
    "mmgcn": {"recall@20": 0.0615, "ndcg@20": 0.0261},
    "grcn": {"recall@20": 0.0833, "ndcg@20": 0.0363},
    "dualgnn": {"recall@20": 0.0716, "ndcg@20": 0.0309},
    "lattice": {"recall@20": 0.0850, "ndcg@20": 0.0370},
    "bm3": {"recall@20": 0.0883, "ndcg@20": 0.0383},
    "freedom": {"recall@20": 0.0992, "ndcg@20": 0.0424},
}
"""MMRec's published full-ranking test Recall@20 / NDCG@20 on Amazon Baby (80/10/10 per-user
split, MMRec's feature files; BM3 paper Table 3 and FREEDOM paper), quoted as inputs."""

INHA_NDCG50: dict[str, float] = {"bm3": 0.035, "grcn": 0.028, "mmgcn": 0.018}
"""Test NDCG@50 of BM3, GRCN and MMGCN in the model-selection comparison of an award entry to the
2023 Inha AI Challenge (``inha2023challenge`` in the bibliography; 190k users, 63k items, 4,096-d
image and 384-d text embeddings), quoted as the write-up reports them (three decimals)."""
