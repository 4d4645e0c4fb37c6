"""The Shopee 1st-place public-leaderboard ladder as reported (inputs, not results).

Shopee – Price Match Guarantee (Kaggle 2021), public LB F1 per step of the winners' write-up
"From Embeddings to Matches", as presented in a talk on multimodal consumer-behaviour modelling
(the book's references: ``shopee2021first``, ``kim_multimodal_talk``); trained encoders (eca_nfnet_l1, xlm-roberta, ...) with an ArcFace
loss on 34,250 training listings. Different data and encoders from this book's runs: quoted for
the *shape* of the ladder only.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .tables import find_record_file, read_record_file

SOURCE = "Shopee 1st-place write-up: public LB (reported)"
SHOPEE_LADDER: tuple[tuple[str, float], ...] = (
    ("image only", 0.70),
    ("text only", 0.64),
    ("concat→normalize", 0.724),
    ("+ min2", 0.743),
    ("normalize→concat", 0.753),
    ("+ full-data training", 0.757),
    ("union of matches + threshold tuning", 0.776),
    ("INB + more text models", 0.784),
    ("INB stage 1 over image/text/comb, joint thresholds", 0.793),
)


def shopee_reference() -> pd.DataFrame:
    """The reported ladder as a table with its source."""
    frame = pd.DataFrame(SHOPEE_LADDER, columns=["step", "public_lb_f1"]).set_index("step")
    frame["source"] = SOURCE
    return frame


def find_record(dataset: str) -> Path:
    """``matching_<dataset>.json`` found by :func:`mmrs.chapters.tables.find_record_file`."""
    return find_record_file(f"matching_{dataset}.json")


def load_record(path: str | Path) -> dict:
    """Read a results record written by :mod:`mmrs.experiments.matching` (a path, or a dataset name)."""
    path = Path(path)
    if path.suffix != ".json":
        path = find_record(str(path))
    return read_record_file(path, "python -m mmrs.experiments.matching --dataset <name> --profile full")


def record_table(record: dict) -> pd.DataFrame:
    """The ladder of a record: test F1/P/R, validation F1 and seconds per step."""
    frame = pd.DataFrame(record["metrics"]["ladder"]).set_index("step")
    return frame[["val_f1", "test_f1", "test_precision", "test_recall", "seconds"]]
