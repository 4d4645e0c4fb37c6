"""Replication command for Chapter 8: which factor, in which modality, per simulated market.

    python -m mmrs.experiments.markets --profile full --torch-threads 1 \\
        --out book/results/markets_full.json

For every market of :mod:`mmrs.data.markets` (same catalogue, same users, different planted
weights) and every model seed: train the fusion transformer and the mean-pooling baseline
(:mod:`mmrs.models.fusion_transformer`, BPR, :func:`mmrs.train.train`, full-ranking metrics on
test); then, on ``n_pairs`` held-out (user, test item) pairs, compute each attribution method's
token importances (:mod:`mmrs.attribution`), their shares per input group, and the rank
agreement of those shares with the planted weights. Writes one ``attribution`` record.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import records
from ..attribution import (
    group_shares,
    integrated_gradients,
    last_layer,
    modality_ablation,
    rank_agreement,
    rollout,
    token_occlusion,
)
from ..config import PROFILES
from ..data.markets import GROUPS, MARKETS, NAME, Market, planted_group_weights, rows_of
from ..models.fusion_transformer import FusionConfig, FusionTransformer, MeanFusion
from ..provenance import git_state
from ..train import TrainConfig, train
from .common import json_out, positive_int


@dataclass(frozen=True)
class Settings:
    """Sizes of one run (per profile, :data:`PROFILE_SETTINGS`)."""

    size: str
    max_epochs: int
    patience: int
    model_seeds: tuple[int, ...]
    n_pairs: int
    ig_steps: int = 64
    """Integration steps of integrated gradients: with 24, the trained full-size transformers
    missed completeness by up to 120 % of s(x) - s(0) on some pairs (measured), so more."""
    batch_size: int = 512
    lr: float = 3e-3


PROFILE_SETTINGS: dict[str, Settings] = {
    "ci": Settings("ci", max_epochs=10, patience=3, model_seeds=(2023,), n_pairs=32, ig_steps=64),
    "full": Settings("full", max_epochs=20, patience=4, model_seeds=(2023, 2024), n_pairs=128,
                     ig_steps=128, batch_size=1024),
}
METHODS: tuple[str, ...] = ("attention (last layer)", "attention rollout", "integrated gradients",
                            "occlusion", "modality ablation")
MODELS = {"transformer": FusionTransformer, "mean": MeanFusion}


@dataclass
class Inputs:
    """Per-product model inputs shared by the markets (rows: ``products``)."""

    products: Any
    text: np.ndarray
    text_mask: np.ndarray
    token_groups: np.ndarray
    regions: np.ndarray


def prepare_inputs(markets: dict[str, Market], catalogue, progress: bool = False) -> Inputs:
    """Title tokens (MiniLM tokenizer and frozen word embeddings) and photo regions
    (EfficientNet-Lite0 3×3 grid, cached) of every product kept in any market."""
    from ..data.markets import union_items
    from ..features.regions import region_features
    from ..features.tokens import minilm_tokenizer_and_table, title_tokens

    products = union_items(markets)
    tokenizer, table = minilm_tokenizer_and_table()
    colours = sorted(catalogue.products["baseColour"].dropna().astype(str).unique())
    tokens = title_tokens(products, colours, tokenizer)
    regions = region_features(catalogue, products["product_id"], progress=progress)
    return Inputs(products, table[tokens.ids], tokens.ids > 0, tokens.groups, regions)


def token_groups(inputs: Inputs, rows: np.ndarray) -> np.ndarray:
    """``[n, L + R]`` group index of every token (title groups, then the photo; -1 padding)."""
    n_r = inputs.regions.shape[1]
    photo = np.full((len(rows), n_r), GROUPS.index("photo"))
    return np.concatenate([inputs.token_groups[rows], photo], axis=1)


def importances(model, users: torch.Tensor, items: torch.Tensor, ig_steps: int
                ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Token importances ``[B, L + R]`` per method, and IG's completeness check."""
    model.eval()
    out: dict[str, np.ndarray] = {}
    text, regions, mask = model.inputs(items)
    if isinstance(model, FusionTransformer):
        with torch.no_grad():
            maps = model.attention_maps(text, regions, mask)
        out[METHODS[0]] = last_layer(maps)[:, 1:].cpu().numpy()
        out[METHODS[1]] = rollout(maps)[:, 1:].cpu().numpy()
    ig, delta = integrated_gradients(model, users, items, ig_steps)
    out[METHODS[2]] = ig.cpu().numpy()
    out[METHODS[3]] = token_occlusion(model, users, items).cpu().numpy()
    with torch.no_grad():
        gap = (model.score_inputs(text, regions, users, mask)
               - model.score_inputs(torch.zeros_like(text), torch.zeros_like(regions), users, mask))
    check = {"max_abs_delta": float(delta.abs().max()),
             "max_rel_delta": float((delta.abs() / gap.abs().clamp(min=1e-6)).max()),
             "mean_abs_gap": float(gap.abs().mean())}
    return out, check


def modality_shares(model, users, items) -> dict[str, float]:
    """Mean share of ``|s(x) − s(x without m)|`` per modality."""
    drop = modality_ablation(model, users, items)
    a = torch.stack([drop["text"].abs(), drop["image"].abs()], 1).cpu().numpy()
    shares = a / np.clip(a.sum(1, keepdims=True), 1e-12, None)
    return {"text": float(shares[:, 0].mean()), "image": float(shares[:, 1].mean())}


def token_rank_agreement(a: np.ndarray, b: np.ndarray, groups: np.ndarray) -> float:
    """Mean over pairs of Spearman's ρ between ``|a|`` and ``|b|`` over the non-padding tokens."""
    from scipy.stats import spearmanr

    rhos = []
    for r in range(len(a)):
        keep = groups[r] >= 0
        x, y = np.abs(a[r, keep]), np.abs(b[r, keep])
        if np.ptp(x) > 0 and np.ptp(y) > 0:
            rhos.append(spearmanr(x, y).statistic)
    return float(np.mean(rhos)) if rhos else 0.0


def analyse_market(market: Market, inputs: Inputs, settings: Settings, seed: int,
                   progress: bool = False) -> dict[str, Any]:
    """Train both models on ``market`` with model seed ``seed``; metrics and attributions."""
    data = market.sim.data
    rows = rows_of(market, inputs.products)
    groups = token_groups(inputs, rows)
    planted = planted_group_weights(market.betas)
    rng = np.random.default_rng(seed)
    users, items = data.pairs("test")
    pick = rng.choice(len(users), size=min(settings.n_pairs, len(users)), replace=False)
    u, i = torch.as_tensor(users[pick]), torch.as_tensor(items[pick])
    pair_groups = groups[items[pick]]
    config = TrainConfig(max_epochs=settings.max_epochs, patience=settings.patience,
                         batch_size=settings.batch_size, lr=settings.lr, progress=progress,
                         device="cpu")
    out: dict[str, Any] = {}
    for name, cls in MODELS.items():
        model = cls(data.n_users, inputs.text[rows], inputs.text_mask[rows], inputs.regions[rows],
                    FusionConfig())
        tic = time.perf_counter()
        record = train(model, data, config, seed)
        train_s = time.perf_counter() - tic
        tic = time.perf_counter()
        imp, check = importances(model, u, i, settings.ig_steps)
        methods = {}
        for method, a in imp.items():
            shares = group_shares(a, pair_groups, len(GROUPS)).mean(0)
            methods[method] = {"shares": dict(zip(GROUPS, shares.tolist(), strict=True)),
                               **rank_agreement(shares, [planted[g] for g in GROUPS])}
        methods[METHODS[4]] = {"modality_shares": modality_shares(model, u, i)}
        agree = {}
        if name == "transformer":
            for att in METHODS[:2]:
                for other in METHODS[2:4]:
                    agree[f"{att} vs {other}"] = token_rank_agreement(imp[att], imp[other],
                                                                      pair_groups)
        out[name] = {
            "test": record["metrics"]["test"], "valid": record["metrics"]["valid"],
            "best_epoch": record["body"]["best_epoch"], "epochs_run": record["body"]["epochs_run"],
            "train_s": train_s, "attribution_s": time.perf_counter() - tic,
            "methods": methods, "ig_completeness": check, "token_agreement": agree,
            "hparams": model.hparams(),
        }
    return out


def summarise(per_seed: dict[str, dict[str, dict]]) -> dict[str, Any]:
    """Means over seeds: accuracy of both models, the transformer's gain, and per method the
    group shares and rank agreement (transformer)."""
    seeds = list(per_seed)
    first = per_seed[seeds[0]]
    out: dict[str, Any] = {}
    for model in first:
        r20 = [per_seed[s][model]["test"]["recall@20"] for s in seeds]
        n20 = [per_seed[s][model]["test"]["ndcg@20"] for s in seeds]
        out[f"{model}_recall@20"] = float(np.mean(r20))
        out[f"{model}_ndcg@20"] = float(np.mean(n20))
        methods = {}
        for method, entry in first[model]["methods"].items():
            if "shares" not in entry:
                methods[method] = {"modality_shares": {
                    k: float(np.mean([per_seed[s][model]["methods"][method]["modality_shares"][k]
                                      for s in seeds])) for k in entry["modality_shares"]}}
                continue
            methods[method] = {
                "shares": {g: float(np.mean([per_seed[s][model]["methods"][method]["shares"][g]
                                             for s in seeds])) for g in GROUPS},
                **{k: float(np.mean([per_seed[s][model]["methods"][method][k] for s in seeds]))
                   for k in ("spearman", "kendall")}}
        out[f"{model}_methods"] = methods
    gains = [per_seed[s]["transformer"]["test"]["recall@20"] - per_seed[s]["mean"]["test"]["recall@20"]
             for s in seeds]
    out["gain_recall@20"] = {"mean": float(np.mean(gains)), "per_seed": [float(g) for g in gains]}
    return out


def market_differences(summary: dict[str, dict], planted: dict[str, dict]) -> dict[str, Any]:
    """Per method (transformer): share(names) − share(looks) per group, and whether the signs of
    the brand and photo differences match the planted ones."""
    a, b = "looks", "names"
    true = {g: planted[b][g] - planted[a][g] for g in GROUPS}
    out: dict[str, Any] = {"planted": true}
    for method, entry in summary[b]["transformer_methods"].items():
        if "shares" in entry:
            diff = {g: entry["shares"][g] - summary[a]["transformer_methods"][method]["shares"][g]
                    for g in GROUPS}
        else:
            diff = {m: entry["modality_shares"][m]
                    - summary[a]["transformer_methods"][method]["modality_shares"][m]
                    for m in ("text", "image")}
            diff = {"brand": diff["text"], "photo": diff["image"]}  # text stands for the brand side
        recovered = bool(np.sign(diff["brand"]) == np.sign(true["brand"])
                         and np.sign(diff["photo"]) == np.sign(true["photo"]))
        out[method] = {"difference": diff, "recovered": recovered}
    return out


def run(profile: str = "ci", seed: int = 2023, catalogue=None, progress: bool = False,
        model_seeds: tuple[int, ...] | None = None, log: bool = False) -> dict[str, Any]:
    """The whole experiment at ``profile``; returns the record (a JSON-ready dict)."""
    from ..data import load_fashion
    from ..data.markets import simulate_markets

    settings = PROFILE_SETTINGS[profile]
    if model_seeds is not None:
        settings = dataclasses.replace(settings, model_seeds=tuple(model_seeds))
    catalogue = catalogue if catalogue is not None else load_fashion()
    tic = time.perf_counter()
    markets = simulate_markets(settings.size, seed, catalogue=catalogue)
    inputs = prepare_inputs(markets, catalogue, progress)
    data_s = time.perf_counter() - tic
    per_market, summary, sizes = {}, {}, {}
    for name, market in markets.items():
        d = market.sim.data
        sizes[name] = {"users": d.n_users, "items": d.n_items, "train": int(d.train.nnz),
                       "valid": int(d.valid.nnz), "test": int(d.test.nnz),
                       "sparsity": float(d.sparsity)}
        per_seed = {}
        for s in settings.model_seeds:
            per_seed[str(s)] = analyse_market(market, inputs, settings, s, progress)
            if log:
                print(f"market {name}, model seed {s}: done at {time.perf_counter() - tic:.0f} s",
                      file=sys.stderr, flush=True)
        per_market[name] = per_seed
        summary[name] = summarise(per_seed)
    planted = {name: planted_group_weights(m.betas) for name, m in markets.items()}
    metrics = {"markets": summary, "differences": market_differences(summary, planted)}
    return records.new_record(
        "attribution",
        dataset=records.dataset_entry(NAME, "simulated markets over fashion-small", None, sizes,
                                      simulation={k: v for k, v in next(iter(markets.values()))
                                                  .sim.params.items() if k not in ("betas", "market")}),
        model="fusion-transformer",
        config={"settings": dataclasses.asdict(settings), "model": FusionConfig().hparams(),
                "groups": list(GROUPS), "methods": list(METHODS)},
        metrics=metrics,
        seeds={"simulation": seed, **{f"model_{s}": s for s in settings.model_seeds}},
        timings={"data_s": data_s, "total_s": time.perf_counter() - tic},
        body={"planted": {"betas": {n: m.betas for n, m in markets.items()},
                          "group_weights": planted, "markets": dict(MARKETS)},
              "per_seed": per_market,
              "tokens_per_item": {"text": int(inputs.text.shape[1]),
                                  "regions": int(inputs.regions.shape[1])}},
    )


def parser() -> argparse.ArgumentParser:
    out = argparse.ArgumentParser(prog="python -m mmrs.experiments.markets",
                                  description=__doc__.splitlines()[0])
    out.add_argument("--profile", choices=sorted(PROFILE_SETTINGS), default="ci",
                     help=f"sizes (one of {sorted(PROFILE_SETTINGS)}; profiles: {sorted(PROFILES)})")
    out.add_argument("--seed", type=int, default=2023, help="seed of the simulated markets")
    out.add_argument("--model-seeds", type=int, nargs="+", default=None,
                     help="model seeds (default: the profile's)")
    out.add_argument("--torch-threads", type=positive_int, default=1)
    out.add_argument("--out", type=json_out, required=True)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    git_state()
    torch.set_num_threads(args.torch_threads)
    record = run(args.profile, args.seed, model_seeds=args.model_seeds, log=True)
    record["command"] = shlex.join(["python", "-m", "mmrs.experiments.markets", *argv])
    records.save(record, args.out)
    for name, s in record["metrics"]["markets"].items():
        print(f"{name}: transformer R@20 {s['transformer_recall@20']:.4f}, mean-fusion "
              f"{s['mean_recall@20']:.4f}; IG ρ {s['transformer_methods'][METHODS[2]]['spearman']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
