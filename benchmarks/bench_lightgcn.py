"""Seconds per LightGCN training epoch and per full evaluation: mmrs vs PyTorch Geometric.

Both models train on amazon-baby in one process with identical settings: 64-d embeddings, the
same number of layers, batches of 2,048, Adam (lr 1e-3), the *same* sampled (u, i, j) triples
in the same order, the same initial embeddings, and the same loss (BPR + MMRec's EmbLoss on the
batch's ego embeddings). Only the propagation differs:

* ``mmrs``: :class:`mmrs.models.LightGCN`: precomputed ``Â`` as a CSR tensor, one
  ``torch.sparse.mm`` per layer, backward through ``Â^T = Â`` (:class:`SymmetricSpMM`);
* ``pyg``: ``torch_geometric.nn.models.LightGCN`` with its ``LGConv`` layers on the
  bidirectional ``edge_index`` (PyG's usual usage: ``gcn_norm`` and message passing per call).

Epochs of the two are interleaved (mmrs, pyg, mmrs, pyg, ...) so that load from other processes
on a shared machine hits both alike; the load average is recorded. Evaluation: one propagation,
then the same batched, train-masked top-50 ranking of all users (:func:`full_ranking_topk`).

Run: ``MMRS_DATA=... python benchmarks/bench_lightgcn.py [--epochs 3 --n-layers 2]``; with
``--torch-threads 1`` both run single-threaded, which is far less sensitive to other jobs on a
shared 2-core machine (OpenMP threads otherwise wait for each other).
Writes ``benchmarks/results/lightgcn_vs_pyg.json``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.nn.models import LightGCN as PygLightGCN

from mmrs import records
from mmrs.data.interactions import load_interactions
from mmrs.metrics import full_ranking_topk
from mmrs.models import LightGCN
from mmrs.models.base import bpr_loss, emb_loss
from mmrs.sampling import NegativeSampler

RESULTS = Path(__file__).resolve().parent / "results" / "lightgcn_vs_pyg.json"


def edge_index_of(train) -> torch.Tensor:
    """Bidirectional user-item ``edge_index`` (items offset by ``n_users``)."""
    coo = train.tocoo()
    users = torch.from_numpy(coo.row.astype(np.int64))
    items = torch.from_numpy(coo.col.astype(np.int64)) + train.shape[0]
    return torch.stack([torch.cat([users, items]), torch.cat([items, users])])


def pyg_loss(model: PygLightGCN, edge_index: torch.Tensor, n_users: int, u, i, j, reg: float):
    """The same loss as :meth:`mmrs.models.LightGCN.calculate_loss`, on PyG's propagation."""
    final = model.get_embedding(edge_index)
    h_u, h_i, h_j = final[u], final[n_users + i], final[n_users + j]
    ego = model.embedding.weight
    loss = bpr_loss((h_u * h_i).sum(1), (h_u * h_j).sum(1))
    return loss + reg * emb_loss(ego[u], ego[n_users + i], ego[n_users + j])


def timed_epoch(step, optimizer, triples: list[tuple[torch.Tensor, ...]]) -> tuple[float, float]:
    """Run one epoch of ``step(u, i, j) -> loss``; return (seconds, mean loss)."""
    start = time.perf_counter()
    total = 0.0
    for u, i, j in triples:
        optimizer.zero_grad(set_to_none=True)
        loss = step(u, i, j)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
    return time.perf_counter() - start, total / len(triples)


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="amazon-baby")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-layers", type=int, default=2)
    parser.add_argument("--reg-weight", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument(
        "--torch-threads", type=int, default=None, help="torch.set_num_threads (default: as is)"
    )
    args = parser.parse_args()
    if args.torch_threads is not None:
        torch.set_num_threads(args.torch_threads)

    data = load_interactions(args.dataset)
    torch.manual_seed(args.seed)
    ours = LightGCN(
        data.train, embedding_dim=64, n_layers=args.n_layers, reg_weight=args.reg_weight
    )
    n_nodes = data.n_users + data.n_items
    pyg = PygLightGCN(n_nodes, embedding_dim=64, num_layers=args.n_layers)
    with torch.no_grad():
        pyg.embedding.weight.copy_(torch.cat([ours.user_embedding, ours.item_embedding]))
    edge_index = edge_index_of(data.train)

    # identical start -> identical first loss (sanity check of "same computation")
    rng = np.random.default_rng(args.seed)
    sampler = NegativeSampler(data.train, rng, train_items_only=True)  # as the trainer
    users, items = data.pairs("train")
    u0 = torch.from_numpy(users[: args.batch_size])
    i0 = torch.from_numpy(items[: args.batch_size])
    j0 = torch.from_numpy(sampler.sample(users[: args.batch_size]))
    with torch.no_grad():
        first_ours = ours.calculate_loss(u0, i0, j0).item()
        first_pyg = pyg_loss(pyg, edge_index, data.n_users, u0, i0, j0, args.reg_weight).item()

    opt_ours = torch.optim.Adam(ours.parameters(), lr=1e-3)
    opt_pyg = torch.optim.Adam(pyg.parameters(), lr=1e-3)
    times: dict[str, list[float]] = {"mmrs": [], "pyg": []}
    losses: dict[str, list[float]] = {"mmrs": [], "pyg": []}
    load_before = os.getloadavg()
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(users))
        u = torch.from_numpy(users[order])
        i = torch.from_numpy(items[order])
        j = torch.from_numpy(sampler.sample(users[order]))
        triples = [
            (u[s : s + args.batch_size], i[s : s + args.batch_size], j[s : s + args.batch_size])
            for s in range(0, len(order), args.batch_size)
        ]
        ours.train()
        sec, loss = timed_epoch(ours.calculate_loss, opt_ours, triples)
        times["mmrs"].append(sec)
        losses["mmrs"].append(loss)
        sec, loss = timed_epoch(
            lambda a, b, c: pyg_loss(pyg, edge_index, data.n_users, a, b, c, args.reg_weight),
            opt_pyg,
            triples,
        )
        times["pyg"].append(sec)
        losses["pyg"].append(loss)
        print(
            f"epoch {epoch}: mmrs {times['mmrs'][-1]:.2f} s (loss {losses['mmrs'][-1]:.4f}), "
            f"pyg {times['pyg'][-1]:.2f} s (loss {losses['pyg'][-1]:.4f})",
            flush=True,
        )

    def evaluate_ours() -> float:
        start = time.perf_counter()
        ours.eval()
        ours.prepare_eval()
        full_ranking_topk(ours.score_users, data.n_users, 50, data.train)
        return time.perf_counter() - start

    def evaluate_pyg() -> float:
        start = time.perf_counter()
        with torch.no_grad():
            final = pyg.get_embedding(edge_index)
        h_users, h_items = final[: data.n_users], final[data.n_users :]
        full_ranking_topk(lambda b: h_users[b] @ h_items.T, data.n_users, 50, data.train)
        return time.perf_counter() - start

    eval_times = {"mmrs": [], "pyg": []}
    for _ in range(3):
        eval_times["mmrs"].append(evaluate_ours())
        eval_times["pyg"].append(evaluate_pyg())

    train_mean = {k: float(np.mean(v)) for k, v in times.items()}
    train_median = {k: float(np.median(v)) for k, v in times.items()}
    eval_best = {k: float(np.min(v)) for k, v in eval_times.items()}
    record = {
        "dataset": data.name,
        "settings": {
            "embedding_dim": 64,
            "n_layers": args.n_layers,
            "batch_size": args.batch_size,
            "reg_weight": args.reg_weight,
            "epochs": args.epochs,
            "batches_per_epoch": len(triples),
            "seed": args.seed,
        },
        "first_batch_loss": {"mmrs": first_ours, "pyg": first_pyg},
        "train_seconds_per_epoch": {"mmrs": times["mmrs"], "pyg": times["pyg"]},
        "train_seconds_per_epoch_mean": train_mean,
        "train_seconds_per_epoch_median": train_median,
        "train_ratio_pyg_over_mmrs": train_median["pyg"] / train_median["mmrs"],
        "train_ratio_basis": "medians over epochs (robust to load spikes on a shared machine)",
        "eval_seconds_all_users_top50": eval_times,
        "eval_seconds_best": eval_best,
        "eval_ratio_pyg_over_mmrs": eval_best["pyg"] / eval_best["mmrs"],
        "epoch_losses": losses,
        "load_average_before_after": [list(load_before), list(os.getloadavg())],
    }
    records.save(records.benchmark_record(record, records.dataset_entry(data.name)), args.out)
    print(
        f"first-batch loss: mmrs {first_ours:.6f}, pyg {first_pyg:.6f}\n"
        f"train s/epoch (median): mmrs {train_median['mmrs']:.2f}, pyg {train_median['pyg']:.2f} "
        f"(pyg / mmrs = {record['train_ratio_pyg_over_mmrs']:.2f}); means "
        f"{train_mean['mmrs']:.2f} / {train_mean['pyg']:.2f}\n"
        f"full evaluation (19,445 users, top-50): mmrs {eval_best['mmrs']:.2f} s, "
        f"pyg {eval_best['pyg']:.2f} s (ratio {record['eval_ratio_pyg_over_mmrs']:.2f})\n"
        f"-> {args.out}"
    )
    return record


if __name__ == "__main__":
    main()
