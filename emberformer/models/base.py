"""What every spread model offers the training loop, and the padding helpers they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from emberformer.errors import is_whole, require


class SpreadModel(nn.Module, ABC):
    """`model(fire, static, wind, time_mask) -> logits [B, 1, H, W]` plus the hooks the loop calls."""

    def describe(self) -> str:
        return type(self).__name__

    @abstractmethod
    def param_groups(self, lr_temporal: float, lr_spatial: float, weight_decay: float) -> list[dict]:
        """Optimizer groups, each {name: "temporal"|"spatial", params, lr, weight_decay}."""

    def on_epoch_start(self, epoch: int) -> None:
        """Called by the loop before each epoch (1-based); a no-op unless a model schedules something."""


_NO_DECAY_MODULES = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase, nn.Embedding)


def decay_groups(
    root: nn.Module, name: str, lr: float, weight_decay: float, exclude: Iterable[nn.Parameter] = ()
) -> list[dict]:
    """AdamW groups for the parameters of `root` (minus `exclude`): weight decay on weight
    matrices/kernels only.

    Decaying biases, norm scales and embedding tables pulls them towards 0 for no regularising
    benefit (they don't set the function's complexity), so they get weight_decay 0.
    Empty groups are dropped; all groups carry `name` so the loop can log/schedule by it.
    """
    decay, no_decay = [], []
    seen = {id(p) for p in exclude}
    for module in root.modules():
        for param in module.parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            (no_decay if isinstance(module, _NO_DECAY_MODULES) or param.ndim <= 1 else decay).append(param)
    groups = [
        {"name": name, "params": decay, "lr": lr, "weight_decay": weight_decay},
        {"name": name, "params": no_decay, "lr": lr, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the last two dims at the bottom/right (like the collate's spatial padding)."""
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h))


def check_positive_int(value, key: str) -> int:
    require(isinstance(value, int) and is_whole(value, 1), f"{key}={value!r} must be a positive integer")
    return value
