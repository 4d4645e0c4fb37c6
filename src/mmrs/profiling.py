"""Where does a training epoch's time go? Sampling vs the model's forward/backward/update.

BM3's motivation (Zhou et al., 2023) cites that LightGCN's uniform negative sampling can take over
25 % of an epoch. :func:`epoch_time_breakdown` measures that share on our implementation by
timing the two phases of :func:`mmrs.train.train_one_epoch` separately.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from .data.interactions import InteractionData
from .devices import module_device
from .models.base import Recommender
from .sampling import NegativeSampler


def epoch_time_breakdown(
    model: Recommender,
    data: InteractionData,
    batch_size: int = 2048,
    lr: float = 1e-3,
    seed: int = 0,
    per_batch_sampling: bool = False,
    max_batches: int | None = None,
) -> dict[str, float]:
    """Seconds spent sampling negatives and in forward/backward/Adam during one epoch.

    ``per_batch_sampling=True`` draws negatives batch by batch (as MMRec's data loader does)
    instead of once for the whole epoch (as :func:`mmrs.train.train_one_epoch` does).
    ``max_batches`` stops after that many batches (the shares of a partial epoch, for speed);
    sampling "once per epoch" then covers only those batches' pairs.
    Returns ``sampling_s``, ``model_s``, ``total_s``, ``sampling_share`` and ``batches``.
    Batches go to the model's device; on CUDA every step is synchronised, so ``model_s``
    counts the GPU's work (and the copy of the batch).
    """
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    users, items = data.pairs("train")
    order = rng.permutation(len(users))
    if max_batches is not None:
        order = order[: max_batches * batch_size]
    sampler = NegativeSampler(data.train, rng)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    device = module_device(model)
    sampling_s = model_s = 0.0
    start = time.perf_counter()
    negatives = None if per_batch_sampling else sampler.sample(users[order])
    sampling_s += time.perf_counter() - start
    for first in range(0, len(order), batch_size):
        batch = order[first : first + batch_size]
        start = time.perf_counter()
        neg = sampler.sample(users[batch]) if per_batch_sampling else negatives[first : first + batch_size]
        sampling_s += time.perf_counter() - start
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = model.calculate_loss(
            torch.from_numpy(users[batch]).to(device),
            torch.from_numpy(items[batch]).to(device),
            torch.from_numpy(neg).to(device),
        )
        loss.backward()
        optimizer.step()
        model.after_step()
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)
        model_s += time.perf_counter() - start
    total = sampling_s + model_s
    return {
        "sampling_s": sampling_s,
        "model_s": model_s,
        "total_s": total,
        "sampling_share": sampling_s / total if total else 0.0,
        "batches": -(-len(order) // batch_size),
    }
