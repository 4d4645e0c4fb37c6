"""Torch-side helpers for the one device setting (:func:`mmrs.config.device_name`).

:func:`module_device` says where a module's tensors live (so inputs can follow the model) and
:func:`to_numpy` brings any tensor back to the CPU before NumPy sees it. The setting itself and
:func:`~mmrs.config.resolve_device` live in :mod:`mmrs.config`, which does not import torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .config import device_name, resolve_device

__all__ = ["device_name", "module_device", "resolve_device", "to_numpy"]


def module_device(module: Any) -> torch.device | None:
    """The device of ``module``'s first parameter (else first buffer); ``None`` when it holds
    no tensor or is not a :class:`torch.nn.Module`."""
    if not isinstance(module, torch.nn.Module):
        return None
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        if tensor is not None:
            return tensor.device
    return None


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """``tensor.detach().cpu().numpy()``: safe for a tensor on any device (a view on the CPU)."""
    return tensor.detach().cpu().numpy()
