"""Seed statistics (mmrs.chapters.seed_tables) and the seed tables of Chapters 6 and 7 on tiny
hand-made records: means, sds and t-intervals computed by hand."""

from __future__ import annotations

import math

import pytest

from mmrs import records as rec
from mmrs.chapters.hierarchical import seed_frame, seed_interval_frame, seed_runs
from mmrs.chapters.matching_study import (
    blending_intervals,
    ladder_seed_table,
    split_seed_runs,
    training_intervals,
)
from mmrs.chapters.seed_tables import (
    interval_text,
    mean_sd,
    paired_interval,
    survives,
    t_interval,
    verdict,
    verdict_words,
)

T975_2 = 4.302652729911275  # Student t quantile 0.975 with 2 degrees of freedom
HALF = T975_2 / math.sqrt(3)  # half-width of a 3-seed 95 % interval per unit of sd


def test_mean_sd_and_t_interval_by_hand():
    # mean (1 + 2 + 6) / 3 = 3; deviations -2, -1, 3 -> sd sqrt((4 + 1 + 9) / 2) = sqrt 7
    s = mean_sd([1.0, 2.0, 6.0])
    assert s["n"] == 3 and s["mean"] == pytest.approx(3) and s["sd"] == pytest.approx(math.sqrt(7))
    assert math.isnan(mean_sd([4.0])["sd"])
    iv = t_interval([1.0, 2.0, 6.0])
    assert iv["low"] == pytest.approx(3 - HALF * math.sqrt(7))
    assert iv["high"] == pytest.approx(3 + HALF * math.sqrt(7))
    # two seeds: t(.975, 1) = 12.7062; differences 1, 3: mean 2, sd sqrt 2 -> half 12.7062
    two = t_interval([1.0, 3.0])
    assert two["high"] - two["mean"] == pytest.approx(12.706204736174698 * math.sqrt(2) / math.sqrt(2))
    with pytest.raises(ValueError, match="at least two"):
        t_interval([1.0])


def test_paired_interval_pairs_by_seed_and_gives_a_verdict():
    # b's seeds are listed in another order: pairing is by seed, differences 5, 4, 6 (seeds 1..3)
    iv = paired_interval({1: 10.0, 2: 9.0, 3: 12.0}, {3: 6.0, 1: 5.0, 2: 5.0})
    assert iv["seeds"] == [1, 2, 3] and iv["differences"] == [5.0, 4.0, 6.0]
    assert iv["mean"] == pytest.approx(5) and iv["sd"] == pytest.approx(1)
    assert (iv["low"], iv["high"]) == pytest.approx((5 - HALF, 5 + HALF))  # 2.516 .. 7.484
    assert verdict(iv) == "positive"
    assert verdict({"low": -3.0, "high": -0.1}) == "negative"
    assert verdict({"low": -0.1, "high": 3.0}) == "not resolved"
    assert verdict_words(iv) == "lies above zero"
    assert verdict_words({"low": -3.0, "high": -0.1}) == "lies below zero"
    assert verdict_words({"low": -0.1, "high": 3.0}) == "contains zero"
    assert interval_text(iv) == "+5.0 ± 1.0 [+2.5, +7.5]"
    assert survives(iv, 0.3) == "survives" and survives(iv, -0.3) == "is reversed"
    assert survives({"low": -0.1, "high": 3.0}, 1.0) == "is not resolved"
    with pytest.raises(ValueError, match="unpaired seeds"):
        paired_interval({1: 1.0, 2: 2.0}, {1: 1.0, 3: 2.0})


# ----------------------------------------------------------------------------- Chapter 6

def _hierarchical(seed: int, flat: float, reduction: float, extra: float, special: float,
                  n_products: int = 6000) -> dict:
    """A hierarchical record whose every relevance has flat value ``flat`` and gains (%p)
    reduction, extra training and specialisation as given (the same for all relevances)."""
    gains = {"flat": 0.0, "flat | predicted": reduction, "flat+ | predicted": reduction + extra,
             "cascade | predicted": reduction + extra + special, "cascade | true": 9.0}
    flat_metrics = {f"{m}@{k}": flat for m in ("precision", "map", "ndcg") for k in (5, 10, 20)}
    flat_metrics.update({"exact_mrr": flat, "graded_ndcg@10": flat})
    level = {"metrics": {"flat": flat_metrics}, "mean_gain_pp": gains,
             "gain_pp": {v: {"exact_mrr": g, "graded_ndcg@10": g} for v, g in gains.items()}}
    return rec.new_record(
        "hierarchical", dataset={"name": "fashion-small", "source": None, "sha256": None, "sizes": {}},
        config={"name": "full", "n_products": n_products}, seeds={"model": seed},
        metrics={"levels": {"articleType": level}}, argv=["test"])


def test_cascade_vs_flat_over_seeds_by_hand(tmp_path):
    # seeds 6, 2024, 2025: flat .30, .32, .31; parts (reduction, extra, specialisation) %p
    # (5, 1, 1), (4, 2, -1), (6, 0, 0) -> gains 7, 5, 6; cascade = flat + gain / 100 = .37 each
    main = _hierarchical(6, 0.30, 5, 1, 1)
    (tmp_path / "seeds").mkdir()
    rec.save(_hierarchical(2025, 0.31, 6, 0, 0), tmp_path / "seeds" / "hierarchical_full_s2025.json")
    rec.save(_hierarchical(2024, 0.32, 4, 2, -1), tmp_path / "seeds" / "hierarchical_full_s2024.json")
    # another configuration (the whole catalogue) must not be mixed in
    rec.save(_hierarchical(2026, 0.9, 50, 0, 0, n_products=44_000), tmp_path / "seeds" / "other.json")
    with pytest.raises(ValueError, match="no other-seed record"):
        seed_runs(main, tmp_path / "nowhere")
    runs = seed_runs(main, tmp_path)
    assert [r["seeds"]["model"] for r in runs] == [6, 2024, 2025]
    per_seed = seed_frame(runs, levels=("articleType",))
    assert per_seed.loc[("articleType", "attribute", 2024), "gain"] == pytest.approx(5)
    table = seed_interval_frame(per_seed)
    for relevance in ("attribute", "exact product", "graded, router-blind"):
        block = table.loc[("articleType", relevance)]
        # flat: mean .31, sd .01; cascade .37 with sd 0
        assert block.loc["flat", "mean"] == pytest.approx(0.31)
        assert block.loc["flat", "sd"] == pytest.approx(0.01)
        assert block.loc["cascade", "mean"] == pytest.approx(0.37)
        assert block.loc["cascade", "sd"] == pytest.approx(0, abs=1e-12)
        # gain 7, 5, 6: mean 6, sd 1 -> 6 ± 2.484: positive
        assert block.loc["gain", "mean"] == pytest.approx(6) and block.loc["gain", "sd"] == pytest.approx(1)
        assert block.loc["gain", "low"] == pytest.approx(6 - HALF)
        assert block.loc["gain", "verdict"] == "positive"
        # reduction 5, 4, 6 -> 5 ± 2.484 positive; specialisation 1, -1, 0 -> 0 ± 2.484 unresolved
        assert block.loc["reduction", "high"] == pytest.approx(5 + HALF)
        assert block.loc["reduction", "verdict"] == "positive"
        assert block.loc["specialisation", "mean"] == pytest.approx(0, abs=1e-12)
        assert block.loc["specialisation", "verdict"] == "not resolved"
        assert block.loc["flat", "verdict"] == ""
    rec.save(_hierarchical(6, 0.3, 1, 1, 1), tmp_path / "seeds" / "dup.json")
    with pytest.raises(ValueError, match="share a seed"):
        seed_runs(main, tmp_path)


# ----------------------------------------------------------------------------- Chapter 7

def _matching(dataset: str, seed: int, frozen: tuple[float, float], trained: tuple[float, float]) -> dict:
    """A matching record with two steps per kind (union + min2, INB stage 1) of the given test
    pair F1; validation prefers INB stage 1 on frozen and union + min2 on trained features."""
    def ladder(test, val):
        return [{"step": s, "val_f1": v, "test_pair_f1": t, "test_f1": t}
                for s, t, v in zip(("union + min2", "INB stage 1"), test, val, strict=True)]
    return rec.new_record(
        "matching", dataset={"name": dataset, "source": None, "sha256": None, "sizes": {}},
        config={"profile": "full"}, seeds={"split": seed, "heads": seed},
        metrics={"ladder": ladder(frozen, (0.7, 0.8)),
                 "ladders": {"frozen": ladder(frozen, (0.7, 0.8)),
                             "trained": ladder(trained, (0.9, 0.8))}}, argv=["test"])


def test_matching_ladder_over_split_seeds_by_hand(tmp_path):
    # frozen (union, INB1): (.80, .81), (.82, .81), (.84, .87); trained (.85, .86), (.86, .85),
    # (.90, .93): blending INB1 - union = .01, -.01, .03 on both kinds (mean .01, sd .02);
    # trained - frozen = .05, .04, .06 at both steps (mean .05, sd .01); selected steps are
    # trained union vs frozen INB1: .04, .05, .03 (mean .04, sd .01)
    main = _matching("abt-buy", 2021, (0.80, 0.81), (0.85, 0.86))
    (tmp_path / "seeds").mkdir()
    rec.save(_matching("abt-buy", 2024, (0.82, 0.81), (0.86, 0.85)), tmp_path / "seeds" / "a.json")
    other_split = _matching("abt-buy", 2025, (0.84, 0.87), (0.90, 0.93))
    other_split["config"]["listings"] = {"test": 99}  # a split's sizes vary with its seed
    rec.save(other_split, tmp_path / "seeds" / "b.json")
    other_profile = _matching("abt-buy", 2026, (0.1, 0.1), (0.1, 0.1))
    other_profile["config"]["profile"] = "ci"  # another setting: never mixed in
    rec.save(other_profile, tmp_path / "seeds" / "e.json")
    rec.save(_matching("fashion", 2024, (0.1, 0.1), (0.1, 0.1)), tmp_path / "seeds" / "c.json")
    with pytest.raises(ValueError, match="no other-split record"):
        split_seed_runs(_matching("amazon-google", 2021, (0.8, 0.8), (0.8, 0.8)), tmp_path)
    runs = split_seed_runs(main, tmp_path)
    assert [r["seeds"]["split"] for r in runs] == [2021, 2024, 2025]
    ladder = ladder_seed_table(runs)
    assert ladder.loc[("frozen", "union + min2"), "mean"] == pytest.approx(0.82)
    assert ladder.loc[("frozen", "union + min2"), "sd"] == pytest.approx(0.02)
    blend = blending_intervals(runs)
    for kind in ("frozen", "trained"):
        row = blend.loc[(kind, "INB stage 1")]
        assert row["mean"] == pytest.approx(0.01) and row["sd"] == pytest.approx(0.02)
        assert row["low"] == pytest.approx(0.01 - 0.02 * HALF)  # -.0397: not resolved
        assert row["verdict"] == "not resolved"
    train = training_intervals(runs)
    for step in ("union + min2", "INB stage 1"):
        assert train.loc[step, "mean"] == pytest.approx(0.05)
        assert train.loc[step, "low"] == pytest.approx(0.05 - 0.01 * HALF)  # .0252: positive
        assert train.loc[step, "verdict"] == "positive"
    assert train.loc["selected", "mean"] == pytest.approx(0.04)
    assert train.loc["selected", "seed 2024"] == pytest.approx(0.05)
    rec.save(_matching("abt-buy", 2021, (0.8, 0.8), (0.8, 0.8)), tmp_path / "seeds" / "d.json")
    with pytest.raises(ValueError, match="share a split seed"):
        split_seed_runs(main, tmp_path)
