"""Data layer: checksummed registry, validated loaders, MMRec's split rule, k-core, statistics.

Files come from the folder named by ``$MMRS_DATA`` (see ``data/README.md``); chapters never
parse raw files themselves.
"""

from .fashion import LEVELS, FashionCatalogue, MissingImageError, load_fashion
from .interactions import (
    SPLIT_SEED,
    SPLITS,
    InteractionData,
    from_labelled_pairs,
    load_features,
    load_interactions,
    mmrec_split_labels,
    read_inter,
    rule_counts,
    split_rule_deviations,
)
from .kcore import KCoreResult, k_core, kcore_sweep, reindex
from .matching import MatchingData, group_labels, load_matching
from .published import PUBLISHED_DATASETS, published_table, sparsity
from .registry import (
    DATA_ENV,
    REGISTRY,
    DatasetError,
    DatasetSpec,
    available,
    data_root,
    dataset_path,
    get_spec,
)
from .stats import (
    RARE,
    cold_start_counts,
    degree_ccdf,
    degrees,
    gini,
    interaction_stats,
    lorenz_curve,
    stats_table,
    top_share,
    train_degree_of_split_items,
)
from .synthetic import synthetic_interactions, synthetic_pairs

__all__ = [
    "LEVELS",
    "FashionCatalogue",
    "MissingImageError",
    "load_fashion",
    "MatchingData",
    "group_labels",
    "load_matching",
    "DATA_ENV",
    "PUBLISHED_DATASETS",
    "RARE",
    "REGISTRY",
    "SPLITS",
    "SPLIT_SEED",
    "DatasetError",
    "DatasetSpec",
    "InteractionData",
    "KCoreResult",
    "available",
    "cold_start_counts",
    "data_root",
    "dataset_path",
    "degree_ccdf",
    "degrees",
    "from_labelled_pairs",
    "get_spec",
    "gini",
    "interaction_stats",
    "k_core",
    "kcore_sweep",
    "load_features",
    "load_interactions",
    "lorenz_curve",
    "mmrec_split_labels",
    "published_table",
    "read_inter",
    "reindex",
    "rule_counts",
    "sparsity",
    "split_rule_deviations",
    "stats_table",
    "synthetic_interactions",
    "synthetic_pairs",
    "top_share",
    "train_degree_of_split_items",
]
