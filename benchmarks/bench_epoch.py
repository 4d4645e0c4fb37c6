"""Seconds per training epoch and per full-ranking evaluation: mmrs vs MMRec's own code, one process.

    MMREC_DIR=/path/to/MMRec python benchmarks/bench_epoch.py --part train --torch-threads 1
    MMREC_DIR=/path/to/MMRec python benchmarks/bench_epoch.py --part eval --torch-threads 1

``MMREC_DIR`` (or ``--mmrec``) is a checkout of https://github.com/enoche/MMRec; its model classes
(``src/models/{bpr,lightgcn,vbpr,bm3,freedom}.py``) are imported from there, unchanged, and fed
through a small stand-in for its dataset object (``inter_matrix``, user and item counts) and its
feature files. Nothing of MMRec is copied into this repository.

Data: Amazon Baby's training split (MMRec's split rule), batches of 2,048, Adam (lr 1e-3). The
registry has no Baby feature files, so BM3, FREEDOM and VBPR get features of Baby's sizes, 4096-d
"image" and 384-d "text", drawn from N(0, 1) with seed 2023 (the cost depends on the sizes, not
the values). The same arrays go to both codes (MMRec reads them as its ``.npy`` feature files).

``--part train``: for each model both codes start from the same parameters (ours copied into
MMRec's modules). Equal numbers first: with dropout 0 (BM3's target dropout, FREEDOM's edge
pruning) both take three Adam steps on the same batches and the losses must agree (asserted,
rtol 1e-5; ours steps with :func:`mmrs.train.make_optimizer`, MMRec with its plain
``torch.optim.Adam``). Then, with the models' dropout, epochs of the two alternate (ours, MMRec,
MMRec, ours, ...) ``--repeats`` times, each over the same pairs: ours is
:func:`mmrs.train.train_one_epoch` (it also draws the epoch's negatives) after ``pre_epoch()``; MMRec's is
the body of its ``Trainer._train_epoch`` (``zero_grad``, ``calculate_loss``, ``loss.item()``,
NaN check, ``backward``, ``step``) after ``pre_epoch_processing()``, on pre-built
``[users; pos; neg]`` batches (its data loader's sampling is not counted). The ratio is
median(ours) / median(MMRec), on wall-clock and on process CPU seconds (the machine is shared:
CPU time is less sensitive to waiting for the cores).

``--part eval``: the top-50 of all 19,445 Baby users over all items with training items masked,
at the (shared) initial parameters. Ours: :func:`mmrs.metrics.full_ranking_topk` on ``score_users`` (one
propagation in ``prepare_eval``, blocks of :data:`mmrs.metrics.SCORE_BLOCK_ELEMENTS`); "before":
the same ranking in blocks of 4,096 users (the previous default, checked to give exactly the same
top-50 lists); MMRec: its ``Trainer.evaluate`` loop (blocks of 4,096 users,
``full_sort_predict``, which re-propagates per block, masked with ``-1e10``, ``torch.topk``).
Alternated ``--repeats`` times; medians.

Writes ``benchmarks/results/epoch_vs_mmrec_amazon-baby.json`` / ``eval_amazon-baby.json``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from mmrs import records
from mmrs.data import load_interactions
from mmrs.metrics import full_ranking_topk, topk_scores
from mmrs.models.bm3 import BM3
from mmrs.models.bpr import BPR
from mmrs.models.freedom import FREEDOM
from mmrs.models.lightgcn import LightGCN
from mmrs.models.vbpr import VBPR
from mmrs.sampling import NegativeSampler
from mmrs.train import make_optimizer, train_one_epoch

RESULTS = Path(__file__).resolve().parent / "results"
FEATURE_DIMS = {"image": 4096, "text": 384}
MODEL_NAMES = ("bpr", "lightgcn", "vbpr", "bm3", "freedom")

# our hyper-parameters; MMRec's config gets the same values under its names
HPARAMS: dict[str, dict[str, Any]] = {
    "bpr": {"reg_weight": 1e-4},
    "lightgcn": {"n_layers": 2, "reg_weight": 1e-4},
    "vbpr": {"reg_weight": 1e-4},
    "bm3": {"n_layers": 1, "dropout": 0.5, "reg_weight": 0.1, "cl_weight": 2.0},
    "freedom": {"dropout": 0.8, "reg_weight": 1e-4, "knn_k": 10, "mm_image_weight": 0.1,
                "n_mm_layers": 1, "n_ui_layers": 2},
}
MMREC_CLASSES = {"bpr": "BPR", "lightgcn": "LightGCN", "vbpr": "VBPR", "bm3": "BM3",
                 "freedom": "FREEDOM"}


class _Dataset:
    """What MMRec's models read from its dataset: counts and the training matrix."""

    def __init__(self, train: Any) -> None:
        self.train = train

    def get_user_num(self) -> int:
        return self.train.shape[0]

    def get_item_num(self) -> int:
        return self.train.shape[1]

    def inter_matrix(self, form: str = "coo") -> Any:
        return self.train.tocoo() if form == "coo" else self.train.tocsr()


class _Loader(_Dataset):
    """MMRec passes its training data loader, which has the dataset's methods and ``.dataset``."""

    def __init__(self, train: Any) -> None:
        super().__init__(train)
        self.dataset = _Dataset(train)


def import_mmrec(mmrec_dir: str | None) -> Callable[[str], type]:
    """A function ``name -> MMRec model class`` importing from ``<mmrec_dir>/src``."""
    path = mmrec_dir or os.environ.get("MMREC_DIR")
    if not path or not (Path(path) / "src" / "models" / "bm3.py").is_file():
        sys.exit(f"bench_epoch.py: MMRec checkout not found at {path!r}; pass --mmrec DIR or set "
                 "MMREC_DIR to a clone of https://github.com/enoche/MMRec")
    sys.path.insert(0, str(Path(path) / "src"))
    # MMRec builds its adjacency with dok_matrix._update, gone since SciPy 1.12: the same dict
    # update under the old name (model construction only, never timed)
    if not hasattr(sp.dok_matrix, "_update"):
        sp.dok_matrix._update = lambda self, entries: self._dict.update(entries)

    def get(name: str) -> type:
        return getattr(importlib.import_module(f"models.{name}"), MMREC_CLASSES[name])

    return get


def mmrec_config(name: str, feature_dir: str) -> dict[str, Any]:
    """MMRec's settings for ``name`` (its overall.yaml keys the models read) with our values."""
    hp = HPARAMS[name]
    config = {
        "USER_ID_FIELD": "user_id:token", "ITEM_ID_FIELD": "item_id:token", "NEG_PREFIX": "neg__",
        "train_batch_size": 2048, "device": torch.device("cpu"), "end2end": False,
        "is_multimodal_model": name in ("vbpr", "bm3", "freedom"),
        "data_path": feature_dir + "/", "dataset": "baby",
        "vision_feature_file": "image_feat.npy", "text_feature_file": "text_feat.npy",
        "embedding_size": 64, "feat_embed_dim": 64, "lambda_coeff": 0.9, "cf_model": "lightgcn",
        "degree_ratio": 1.0, "cl_weight": 2.0,
    }
    config.update(hp)
    return config


def build_ours(name: str, data: Any, features: dict[str, np.ndarray]) -> torch.nn.Module:
    hp = HPARAMS[name]
    if name == "bpr":
        return BPR(data.n_users, data.n_items, **hp)
    if name == "lightgcn":
        return LightGCN(data.train, **hp)
    if name == "vbpr":
        return VBPR(data.n_users, data.n_items, features, **hp)
    if name == "bm3":
        return BM3(data.train, features, **hp)
    return FREEDOM(data.train, features, **hp)


def copy_parameters(name: str, ours: torch.nn.Module, mm: torch.nn.Module) -> None:
    """Give MMRec's module our parameters (its names differ)."""
    pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
    if name == "bpr":
        pairs = [(mm.user_embedding.weight, ours.user_embedding),
                 (mm.item_embedding.weight, ours.item_embedding)]
    elif name == "lightgcn":
        pairs = [(mm.embedding_dict["user_emb"], ours.user_embedding),
                 (mm.embedding_dict["item_emb"], ours.item_embedding)]
    elif name == "vbpr":
        pairs = [(mm.u_embedding, ours.user_embedding), (mm.i_embedding, ours.item_embedding),
                 (mm.item_linear.weight, ours.item_linear.weight),
                 (mm.item_linear.bias, ours.item_linear.bias)]
    else:
        pairs = [(mm.user_embedding.weight, ours.user_embedding),
                 (mm.item_id_embedding.weight, ours.item_embedding)]
        for m, short in (("image", "image"), ("text", "text")):
            pairs += [(getattr(mm, f"{short}_embedding").weight, ours.feat_tables[m]),
                      (getattr(mm, f"{short}_trs").weight, ours.projections[m].weight),
                      (getattr(mm, f"{short}_trs").bias, ours.projections[m].bias)]
        if name == "bm3":
            pairs += [(mm.predictor.weight, ours.predictor.weight),
                      (mm.predictor.bias, ours.predictor.bias)]
    with torch.no_grad():
        for dst, src in pairs:
            dst.copy_(src)


def mmrec_epoch(mm: torch.nn.Module, optimizer: torch.optim.Optimizer,
                batches: list[torch.Tensor]) -> float:
    """The body of MMRec's ``Trainer._train_epoch`` (no gradient clipping, as its defaults)."""
    mm.pre_epoch_processing()
    mm.train()
    total = 0.0
    for interaction in batches:
        optimizer.zero_grad()
        _ = interaction.clone()  # MMRec keeps a copy for its mirror-gradient variant
        loss = mm.calculate_loss(interaction)
        total += loss.item()
        if torch.isnan(loss):
            raise FloatingPointError("MMRec loss is NaN")
        loss.backward()
        optimizer.step()
    return total


def set_dropout(name: str, ours: torch.nn.Module, mm: torch.nn.Module, p: float) -> None:
    if name in ("bm3", "freedom"):
        ours.dropout = p
        mm.dropout = p


def first_losses(name: str, ours: torch.nn.Module, mm: torch.nn.Module,
                 batches: list[torch.Tensor]) -> list[dict[str, float]]:
    """Losses of three Adam steps on the same batches with dropout 0; asserted equal."""
    set_dropout(name, ours, mm, 0.0)
    ours.train()
    ours.pre_epoch()
    mm.pre_epoch_processing()
    opt_ours = make_optimizer(ours.parameters(), 1e-3)
    opt_mm = torch.optim.Adam(mm.parameters(), lr=1e-3)
    out = []
    for batch in batches[:3]:
        opt_ours.zero_grad(set_to_none=True)
        a = ours.calculate_loss(batch[0], batch[1], batch[2])
        a.backward()
        opt_ours.step()
        opt_mm.zero_grad()
        b = mm.calculate_loss(batch)
        b.backward()
        opt_mm.step()
        out.append({"ours": float(a.detach()), "mmrec": float(b.detach())})
    np.testing.assert_allclose([x["ours"] for x in out], [x["mmrec"] for x in out], rtol=1e-5)
    set_dropout(name, ours, mm, HPARAMS[name].get("dropout", 0.0))
    return out


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def summary(times: dict[str, list[tuple[float, float]]], ours: str, ref: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, col in (("wall", 0), ("cpu", 1)):
        med = {k: statistics.median(t[col] for t in v) for k, v in times.items()}
        out[f"{key}_s"] = {k: [t[col] for t in v] for k, v in times.items()}
        out[f"median_{key}_s"] = med
        out[f"ratio_{key}"] = med[ours] / med[ref]
    return out


def setup(args: argparse.Namespace, feature_dir: str) -> tuple[Any, dict[str, np.ndarray]]:
    data = load_interactions(args.dataset)
    rng = np.random.default_rng(args.seed)
    features = {m: rng.standard_normal((data.n_items, d), dtype=np.float32)
                for m, d in FEATURE_DIMS.items()}
    np.save(Path(feature_dir) / "image_feat.npy", features["image"])
    np.save(Path(feature_dir) / "text_feat.npy", features["text"])
    return data, features


def make_pair(name: str, data: Any, features: dict, feature_dir: str, mmrec: Callable,
              seed: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(seed)
    ours = build_ours(name, data, features)
    mm = mmrec(name)(mmrec_config(name, feature_dir), _Loader(data.train))
    copy_parameters(name, ours, mm)
    return ours, mm


def run_train(args: argparse.Namespace, data: Any, features: dict, feature_dir: str,
              mmrec: Callable) -> dict[str, Any]:
    users, items = data.pairs("train")
    rows: dict[str, Any] = {}
    for name in args.models:
        ours, mm = make_pair(name, data, features, feature_dir, mmrec, args.seed)
        rng = np.random.default_rng(args.seed)
        sampler = NegativeSampler(data.train, rng, train_items_only=True)
        order = rng.permutation(len(users))
        u = torch.from_numpy(users[order])
        i = torch.from_numpy(items[order])
        j = torch.from_numpy(sampler.sample(users[order]))
        batches = [torch.stack([u[s:s + args.batch_size], i[s:s + args.batch_size],
                                j[s:s + args.batch_size]])
                   for s in range(0, len(order), args.batch_size)]
        checks = first_losses(name, ours, mm, batches)
        opt_ours = make_optimizer(ours.parameters(), 1e-3)
        opt_mm = torch.optim.Adam(mm.parameters(), lr=1e-3)
        ep_rng = np.random.default_rng(args.seed + 1)

        def run_ours(ours=ours, opt=opt_ours, sampler=sampler, rng=ep_rng) -> None:
            ours.train()
            ours.pre_epoch()
            train_one_epoch(ours, opt, users, items, sampler, rng, args.batch_size)

        def run_mm(mm=mm, opt=opt_mm, batches=batches) -> None:
            mmrec_epoch(mm, opt, batches)

        times: dict[str, list[tuple[float, float]]] = {"ours": [], "mmrec": []}
        for r in range(args.repeats):
            pair = (("ours", run_ours), ("mmrec", run_mm))
            for key, fn in pair if r % 2 == 0 else pair[::-1]:
                times[key].append(timed(fn))
        rows[name] = {"hparams": HPARAMS[name], "first_losses_dropout0": checks,
                      **summary(times, "ours", "mmrec")}
        print(name, {k: rows[name][k] for k in ("median_wall_s", "ratio_wall", "ratio_cpu")},
              flush=True)
        del ours, mm
    return rows


def run_eval(args: argparse.Namespace, data: Any, features: dict, feature_dir: str,
             mmrec: Callable) -> dict[str, Any]:
    users_all = np.arange(data.n_users)
    train = data.train.tocsr()
    blocks = [users_all[s:s + 4096] for s in range(0, data.n_users, 4096)]
    masks = []
    for b in blocks:  # MMRec's loader hands these over with each batch: not timed
        sub = train[b].tocoo()
        masks.append((torch.from_numpy(sub.row.astype(np.int64)),
                       torch.from_numpy(sub.col.astype(np.int64))))
    rows: dict[str, Any] = {}
    for name in args.models:
        ours, mm = make_pair(name, data, features, feature_dir, mmrec, args.seed)
        box: dict[str, np.ndarray] = {}

        def ours_new(ours=ours, box=box) -> None:
            ours.eval()
            ours.prepare_eval()
            box["new"] = full_ranking_topk(ours.score_users, data.n_users, 50, train)

        def ours_before(ours=ours, box=box) -> None:
            ours.eval()
            ours.prepare_eval()
            with torch.no_grad():
                box["before"] = np.concatenate([
                    topk_scores(ours.score_users(torch.from_numpy(b)), 50, train[b])
                    for b in blocks])

        def mmrec_eval(mm=mm, box=box) -> None:
            mm.eval()
            out = []
            with torch.no_grad():
                for b, (r, c) in zip(blocks, masks, strict=True):
                    scores = mm.full_sort_predict([torch.from_numpy(b)])
                    scores[r, c] = -1e10
                    out.append(torch.topk(scores, 50, dim=-1)[1])
            box["mmrec"] = torch.cat(out).numpy()

        times: dict[str, list[tuple[float, float]]] = {"ours": [], "before": [], "mmrec": []}
        fns = [("ours", ours_new), ("before", ours_before), ("mmrec", mmrec_eval)]
        for r in range(args.repeats):
            for key, fn in fns if r % 2 == 0 else fns[::-1]:
                times[key].append(timed(fn))
        assert np.array_equal(box["new"], box["before"]), f"{name}: top-50 lists changed"
        agree = float(np.mean([len(set(a) & set(b)) / 50 for a, b in
                               zip(box["new"], box["mmrec"], strict=True)]))
        row = {"hparams": HPARAMS[name], "top50_equal_to_before": True,
               "top50_overlap_with_mmrec": agree, **summary(times, "ours", "mmrec")}
        row["ratio_before_wall"] = row["median_wall_s"]["ours"] / row["median_wall_s"]["before"]
        rows[name] = row
        print(name, {k: row[k] for k in ("median_wall_s", "median_cpu_s", "ratio_wall")},
              flush=True)
        del ours, mm
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("train", "eval"), required=True)
    parser.add_argument("--mmrec", default=None, help="MMRec checkout (default: $MMREC_DIR)")
    parser.add_argument("--dataset", default="amazon-baby")
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    mmrec = import_mmrec(args.mmrec)
    with tempfile.TemporaryDirectory() as feature_dir:
        (Path(feature_dir) / "baby").mkdir()
        data, features = setup(args, str(Path(feature_dir) / "baby"))
        part = run_train if args.part == "train" else run_eval
        rows = part(args, data, features, feature_dir, mmrec)
    stem = "epoch_vs_mmrec" if args.part == "train" else "eval"
    out = Path(args.out) if args.out else RESULTS / f"{stem}_{args.dataset}.json"
    command = (f"MMREC_DIR=... python benchmarks/bench_epoch.py --part {args.part} "
               f"--repeats {args.repeats} --torch-threads {args.torch_threads}")
    result = {
        "benchmark": ("seconds per training epoch, mmrs vs MMRec's code, alternated in one process"
                      if args.part == "train" else
                      "seconds to rank all users' top-50, mmrs vs MMRec's evaluation loop"),
        "batch_size": args.batch_size, "torch_threads": torch.get_num_threads(),
        "settings": {"repeats": args.repeats, "seed": args.seed,
                     "features": {m: f"N(0,1) {d}-d, seed {args.seed}"
                                  for m, d in FEATURE_DIMS.items()}},
        "models": rows,
        "load_average": list(os.getloadavg()),
    }
    records.save(records.benchmark_record(result, args.dataset, command=command), out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
