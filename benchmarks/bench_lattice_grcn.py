"""LATTICE and GRCN against reference-style loops that follow MMRec's code, in one process.

    python benchmarks/bench_lattice_grcn.py --torch-threads 1

Both codes train on the same simulated fashion users (``fashion-sim``, seed 2023, image and text
features), from the **same initial parameters** (the reference's state dict is copied from ours),
on the **same batches** (2,048 training pairs with one uniform negative each, in the same order),
with the same optimizer (:func:`mmrs.train.make_optimizer`); the losses of the first batches must
agree (asserted, float32 tolerance) before any time counts. The references:

* LATTICE: :class:`mmrs.models.lattice_reference.ReferenceLATTICE`, MMRec's dense way (``I x I``
  similarity, top-k by ``scatter``, ``diagflat`` normalisation, the projections of all items in
  every batch and a dense ``torch.mm`` with the item graph in every batch; original graphs built
  once, as MMRec does in ``__init__``) against :class:`mmrs.models.LATTICE` (sparse entries,
  chunked kNN without gradients, CSR products after the first batch). One whole epoch of each
  (the graph is re-learned in its first batch).
* GRCN: :func:`mmrs.models.mm_gnn_reference.grcn_reference` with ``differentiable=True`` (PyG
  ``MessagePassing`` layers on ``edge_index``, MMRec's three routing rounds, its loss expression)
  against :class:`mmrs.models.GRCN`. Every batch runs the whole graph forward and backward in both
  codes, so ``--grcn-batches`` batches are timed and the epoch is their mean times the number of
  batches in an epoch.

The two codes are stepped **alternately, batch by batch** (ours, reference, ours, ...), so that
other jobs on the machine slow both alike; the record keeps every batch's CPU seconds and the
quartiles of the per-batch ratio (after the first batch).

The propagation layers alone (``propagations`` in the record; formerly
``benchmarks/bench_mm_gnn.py``) on the same user–item graph, forward + backward of ``out.sum()``
on the same 64-d float32 inputs after an equality check, ours vs MMRec's PyG ``MessagePassing``:
``mean`` (MMGCN's ``aggr="mean"`` vs ``propagate(D^{-1}A, x, 1)``), ``norm2`` (DualGNN's two
``Base_gcn`` calls, which recompute the degree normalisation per call, vs the precomputed ``Â``),
``attention`` (GRCN's ``GATConv`` vs :func:`mmrs.models.grcn.attention_layer`) and ``weighted2``
(GRCN's two ``SAGEConv`` calls with edge weights vs :func:`mmrs.models.grcn.weighted_sum`); the
median of ``--repeats``, interleaved.

Times are **CPU seconds** (``time.process_time`` at 1 thread: the compute cost, robust to other
jobs on a shared machine); wall seconds are kept beside them. ``ratio`` = ours / reference per
epoch (the goal: at most 0.5). ``--lattice-items`` trains LATTICE (both codes) on the users'
interactions with the first ``n`` items only, when the dense reference is too slow for the full
catalogue (the record states the sizes used). Writes ``benchmarks/results/lattice_grcn_vs_reference.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from mmrs import records
from mmrs.graph import (
    bipartite_edge_index,
    normalized_adjacency,
    propagate,
    random_walk_adjacency_scipy,
    to_torch_sparse,
)
from mmrs.models import GRCN, LATTICE
from mmrs.models.grcn import attention_layer, weighted_sum
from mmrs.models.lattice_reference import ReferenceLATTICE
from mmrs.models.mm_gnn_reference import (
    DotAttention,
    NormConv,
    PlainConv,
    WeightedConv,
    grcn_reference,
)
from mmrs.sampling import NegativeSampler
from mmrs.train import make_optimizer

RESULTS = Path(__file__).resolve().parent / "results" / "lattice_grcn_vs_reference.json"
BATCH = 2048
CHECKED = 3  # batches whose losses must agree


class ReferenceGRCN(GRCN):
    """:class:`GRCN` whose loss is computed MMRec's way (:func:`grcn_reference`, on its own
    float32 parameters, gradients flowing)."""

    name = "grcn-reference"

    def __init__(self, train: sp.spmatrix, *args: Any, **kwargs: Any) -> None:
        super().__init__(train, *args, **kwargs)
        self._train = sp.csr_matrix(train)

    def calculate_loss(self, users, pos, neg):  # type: ignore[no-untyped-def]
        return grcn_reference(self, self._train, users, pos, neg, differentiable=True)[1]


def batches(train: sp.spmatrix, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    """One epoch of shuffled ``(users, pos, neg)`` batches of :data:`BATCH` pairs."""
    coo = sp.coo_matrix(train)
    users, items = coo.row.astype(np.int64), coo.col.astype(np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(users))
    neg = NegativeSampler(sp.csr_matrix(train), rng).sample(users[order])
    u, i, j = (torch.from_numpy(a) for a in (users[order], items[order], neg))
    return [(u[s:s + BATCH], i[s:s + BATCH], j[s:s + BATCH]) for s in range(0, len(order), BATCH)]


class _Trainer:
    """One model's optimizer and per-batch timings (the two codes are stepped alternately)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.optimizer = make_optimizer(model.parameters(), 1e-3)
        self.cpu: list[float] = []
        self.wall: list[float] = []
        self.losses: list[float] = []
        model.train()
        model.pre_epoch()

    def step(self, u: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> None:
        w0, c0 = time.perf_counter(), time.process_time()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.model.calculate_loss(u, i, j)
        loss.backward()
        self.optimizer.step()
        self.cpu.append(time.process_time() - c0)
        self.wall.append(time.perf_counter() - w0)
        self.losses.append(float(loss.detach()))


def compare(name: str, ours: torch.nn.Module, ref: torch.nn.Module,
            epoch: list[tuple[torch.Tensor, ...]], n: int) -> dict[str, Any]:
    """Same start, same batches, the two codes stepped alternately batch by batch (so that other
    load hits both alike): assert equal first losses; per-epoch CPU seconds and their ratio."""
    ref.load_state_dict(ours.state_dict())
    n = min(n, len(epoch))
    a, b = _Trainer(ours), _Trainer(ref)
    for u, i, j in epoch[:n]:
        a.step(u, i, j)
        b.step(u, i, j)
    first = np.array(a.losses[:CHECKED]), np.array(b.losses[:CHECKED])
    if not np.allclose(*first, rtol=1e-4, atol=1e-6):
        raise AssertionError(f"{name}: first losses differ: ours {first[0]}, reference {first[1]}")
    scale = len(epoch) / n
    out = {"batches_per_epoch": len(epoch), "batches_timed": n,
           "losses_checked": {"ours": first[0].tolist(), "reference": first[1].tolist()},
           "max_abs_loss_diff": float(np.max(np.abs(first[0] - first[1]))),
           "ours": {"cpu_s_per_epoch": sum(a.cpu) * scale, "wall_s_per_epoch": sum(a.wall) * scale,
                    "cpu_s_per_batch": a.cpu},
           "reference": {"cpu_s_per_epoch": sum(b.cpu) * scale, "wall_s_per_epoch": sum(b.wall) * scale,
                         "cpu_s_per_batch": b.cpu}}
    out["ratio"] = out["ours"]["cpu_s_per_epoch"] / out["reference"]["cpu_s_per_epoch"]
    # batches after the first (LATTICE re-learns its graph in the first): spread of the ratio
    later = np.array(a.cpu[1:]) / np.array(b.cpu[1:]) if n > 1 else np.array([out["ratio"]])
    out["ratio_per_batch_quartiles"] = [float(q) for q in np.percentile(later, [25, 50, 75])]
    print(name, {k: v for k, v in out.items() if k not in ("ours", "reference")},
          round(out["ours"]["cpu_s_per_epoch"], 2), round(out["reference"]["cpu_s_per_epoch"], 2), flush=True)
    return out


def _cpu_time(fn, x: torch.Tensor, *extra: torch.Tensor) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds of ``fn(x, *extra).sum().backward()``."""
    inputs = [t.detach().requires_grad_(t.is_floating_point()) for t in (x, *extra)]
    start = time.process_time()
    fn(*inputs).sum().backward()
    return time.process_time() - start


def propagations(train: sp.spmatrix, repeats: int, dim: int = 64) -> dict[str, dict[str, float]]:
    """Ours vs MMRec's PyG layers (module docstring) on ``train``'s graph: CPU seconds (median
    of ``repeats``, interleaved) and the ratio ours / PyG, after checking equal outputs."""
    n = sum(train.shape)
    edges = bipartite_edge_index(train)
    src, dst = edges[0], edges[1]
    mean_adj = random_walk_adjacency_scipy(train, self_loops=False)
    mean_t, mean_tt = to_torch_sparse(mean_adj), to_torch_sparse(mean_adj.T.tocsr())
    norm = normalized_adjacency(train)
    x = torch.nn.functional.normalize(torch.randn(n, dim, generator=torch.Generator().manual_seed(0)))
    w = torch.rand(src.shape[0], generator=torch.Generator().manual_seed(1))
    pairs = {
        "mean": (lambda v: propagate(mean_t, v, 1, adj_t=mean_tt)[1],
                 lambda v: PlainConv("mean")(v, edges), ()),
        "norm2": (lambda v: propagate(norm, v, 2, symmetric=True)[2],
                  lambda v: NormConv()(NormConv()(v, edges), edges), ()),
        "attention": (lambda v: attention_layer(v, src, dst, paired=True)[0],
                      lambda v: v + DotAttention()(v, edges), ()),
        "weighted2": (lambda v, ww: weighted_sum(weighted_sum(v, src, dst, ww), src, dst, ww),
                      lambda v, ww: WeightedConv()(WeightedConv()(v, edges, ww.view(-1, 1)), edges,
                                                   ww.view(-1, 1)), (w,)),
    }
    out = {}
    for name, (ours, pyg, extra) in pairs.items():
        with torch.no_grad():
            if not torch.allclose(ours(x, *extra), pyg(x, *extra), atol=1e-5):
                raise AssertionError(f"propagation {name}: ours and PyG's outputs differ")
        t_ours, t_pyg = [], []
        for _ in range(repeats):
            t_ours.append(_cpu_time(ours, x, *extra))
            t_pyg.append(_cpu_time(pyg, x, *extra))
        a, b = float(np.median(t_ours)), float(np.median(t_pyg))
        out[name] = {"ours_cpu_s": a, "pyg_cpu_s": b, "ratio": a / b}
        print(name, out[name], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="full", help="fashion-sim size (ci, medium, full)")
    parser.add_argument("--lattice-items", type=int, default=None,
                        help="LATTICE on the first N items only (default: all)")
    parser.add_argument("--grcn-batches", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5, help="repeats of each propagation")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats: at least 1")
    if args.grcn_batches < CHECKED:
        parser.error(f"--grcn-batches: at least {CHECKED} (the batches whose losses are compared)")
    torch.set_num_threads(args.torch_threads)
    from mmrs.data.fashion_sim import simulate_fashion

    data = simulate_fashion(size=args.size, seed=2023, progress=False).data
    train = sp.csr_matrix(data.train)
    n_items = args.lattice_items or data.n_items
    if not 10 <= n_items <= data.n_items:
        parser.error(f"--lattice-items: between 10 and {data.n_items}, got {n_items}")
    lat_train = train[:, :n_items]
    lat_feats = {m: f[:n_items] for m, f in data.features.items()}
    results: dict[str, Any] = {}
    torch.manual_seed(2023)
    lat_epoch = batches(lat_train)
    results["lattice"] = compare("lattice", LATTICE(lat_train, lat_feats),
                                 ReferenceLATTICE(lat_train, lat_feats), lat_epoch, len(lat_epoch))
    results["lattice"]["n_items"] = n_items
    results["lattice"]["n_interactions"] = int(lat_train.nnz)
    torch.manual_seed(2023)
    grcn_epoch = batches(train)
    results["grcn"] = compare("grcn", GRCN(train, data.features), ReferenceGRCN(train, data.features),
                              grcn_epoch, args.grcn_batches)
    results["grcn"]["n_items"] = data.n_items
    results["grcn"]["n_interactions"] = int(train.nnz)
    props = propagations(train, args.repeats)
    result = {
        "benchmark": "LATTICE and GRCN vs reference-style loops following MMRec's code (same "
                     "process, data, initial parameters and batches; CPU seconds per epoch, 1 thread)",
        "settings": {"size": args.size, "lattice_items": n_items, "grcn_batches": args.grcn_batches,
                     "propagation_repeats": args.repeats,
                     "features": {m: int(f.shape[1]) for m, f in data.features.items()},
                     "checked_batches": CHECKED, "loss_rtol": 1e-4},
        "batch_size": BATCH,
        "torch_threads": args.torch_threads,
        "results": results,
        "propagations": props,
        "goal": "ours / reference <= 0.5 per epoch",
        "timing_note": "CPU seconds (time.process_time) at 1 thread; wall seconds beside them",
    }
    records.save(records.benchmark_record(result, records.dataset_entry(
        f"fashion-sim-{args.size}", "simulated by mmrs.data.fashion_sim (seed 2023)",
        sizes={"n_users": data.n_users, "n_items": data.n_items})), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
