"""Contrastive training of :class:`~mmrs.retrieval.towers.LockedTowers` on (photo, title) pairs.

Mini-batches of B pairs are drawn without replacement each epoch (seeded); the other B−1 pairs
of the batch are the negatives. Adam on the heads and on ``logit_scale``, which is clamped to
``[0, log 100]`` after each step as in CLIP. With ``select`` (a function of the model, higher is
better) or ``valid`` pairs (text→image recall@10 among the validation photos), the best epoch is
kept.

Training runs on ``device`` (default :func:`mmrs.config.device_name`: ``$MMRS_DEVICE`` or the
CPU): the heads are initialised on the CPU from the seed, then moved, so the same seed starts
from the same weights everywhere; the returned model stays on that device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import resolve_device
from ..devices import module_device
from .loss import clip_loss
from .towers import LockedTowers

MAX_LOGIT_SCALE = float(np.log(100.0))


@dataclass
class TrainLog:
    """Per-epoch mean training loss and validation recall@10; the epoch kept."""

    loss: list[float] = field(default_factory=list)
    valid_recall10: list[float] = field(default_factory=list)
    """The selection score per epoch (``select``'s value, else validation recall@10)."""
    best_epoch: int = -1
    seconds: float = 0.0


def pair_recall(model: LockedTowers, image: np.ndarray, text: np.ndarray, k: int = 10) -> float:
    """Share of titles whose own photo is among the ``k`` most similar photos of the set (computed
    on the model's device)."""
    device = module_device(model)
    with torch.no_grad():
        u = model.encode_image(torch.from_numpy(image).to(device))
        w = model.encode_text(torch.from_numpy(text).to(device))
        sims = w @ u.T
        own = sims.diagonal().unsqueeze(1)
        rank = (sims > own).sum(dim=1)
    return float((rank < k).float().mean())


def train_towers(
    image: np.ndarray,
    text: np.ndarray,
    *,
    epochs: int,
    seed: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    model: LockedTowers | None = None,
    valid: tuple[np.ndarray, np.ndarray] | None = None,
    select: Callable[[LockedTowers], float] | None = None,
    dim: int = 256,
    hidden: int = 512,
    progress: bool = True,
    desc: str = "contrastive",
    device: str | torch.device | None = None,
) -> tuple[LockedTowers, TrainLog]:
    """Train (or continue training ``model``) on row-aligned ``image``/``text`` features, on
    ``device`` (module docstring); the model is moved there and returned there."""
    import time

    device = resolve_device(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = model if model is not None else LockedTowers(image.shape[1], text.shape[1], dim, hidden)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x_all, t_all = torch.from_numpy(image).to(device), torch.from_numpy(text).to(device)
    log, best, best_state = TrainLog(), -1.0, None
    start = time.perf_counter()
    n = len(image)
    for epoch in tqdm(range(epochs), desc=desc, disable=not progress):
        model.train()
        order, losses = rng.permutation(n), []
        for b in range(0, n - 1, batch_size):
            idx = torch.from_numpy(order[b : b + batch_size]).to(device)
            if len(idx) < 2:
                continue
            loss = clip_loss(*model(x_all[idx], t_all[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
            losses.append(loss.item())
        log.loss.append(float(np.mean(losses)) if losses else float("nan"))
        model.eval()
        if select is not None or (valid is not None and len(valid[0]) > 1):
            r = select(model) if select is not None else pair_recall(model, *valid)
            log.valid_recall10.append(r)
            if r > best:
                best, log.best_epoch = r, epoch
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        log.best_epoch = epochs - 1
    log.seconds = time.perf_counter() - start
    return model.eval(), log
