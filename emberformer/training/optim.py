"""AdamW over the model's own parameter groups, plus the per-epoch LR schedule (`optimizer=` group)."""

from __future__ import annotations

import math

import torch

from emberformer.errors import is_number, is_whole, require
from emberformer.models.base import LearningRates


class AdamWRecipe:
    """The `optimizer=` settings, checked when the config is built (before any data loads);
    calling it with the model gives (optimizer, scheduler), or (None, None) for a model with
    nothing to train (persistence).

    The groups and the rate each trains at come from `model.param_groups`, so the loop never
    matches names; `group_rates` reads them back for the banner and the W&B keys.
    """

    def __init__(self, lr: float, lr_temporal: float, lr_spatial: float, weight_decay: float, betas=(0.9, 0.999),
                 schedule: str = "cosine", warmup_epochs: int = 0):
        for key, value in (("lr", lr), ("lr_temporal", lr_temporal), ("lr_spatial", lr_spatial),
                           ("weight_decay", weight_decay)):
            require(is_number(value) and value >= 0, f"optimizer.{key}={value} must be a number >= 0 (e.g. 1e-4)")
        require(schedule in ("cosine", "constant"), f"optimizer.schedule={schedule} must be 'cosine' or 'constant'")
        require(is_whole(warmup_epochs, 0), f"optimizer.warmup_epochs={warmup_epochs} must be a whole number >= 0")
        self.rates = LearningRates(lr, lr_temporal, lr_spatial)
        self.weight_decay = weight_decay
        self.betas, self.schedule, self.warmup_epochs = tuple(betas), schedule, int(warmup_epochs)

    def __call__(self, model, epochs: int = 1):
        groups = [g for g in model.param_groups(self.rates, self.weight_decay) if g["params"]]
        if not groups:
            return None, None
        optimizer = torch.optim.AdamW(groups, betas=self.betas)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda index: self.lr_factor(index, epochs))

    def lr_factor(self, epoch_index: int, epochs: int) -> float:
        """Stepped once per epoch: linear warm-up, then cosine down to 1% of the base LR."""
        warmup = self.warmup_epochs
        if epoch_index < warmup:
            return (epoch_index + 1) / (warmup + 1)
        if self.schedule == "constant":
            return 1.0
        progress = (epoch_index - warmup) / max(1, epochs - warmup)
        return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def group_lrs(optimizer) -> dict[str, float]:
    """{group name: current lr}, e.g. {'temporal': 1e-3, 'spatial': 1e-3}: what `train/lr_<name>` logs."""
    if optimizer is None:
        return {}
    return {g["name"]: g["lr"] for g in optimizer.param_groups}


def describe_rates(optimizer) -> str:
    """The banner's line: each group's starting rate, and the config key that sets it where the group's
    name doesn't say (`LR temporal: 1.00e-03, LR spatial: 1.00e-04`; `LR model: 5.00e-02 (model.lr)`)."""
    if optimizer is None:
        return "LR: none (nothing to train)"
    groups = {g["name"]: g for g in optimizer.param_groups}
    parts = []
    for name, group in groups.items():
        source = group.get("lr_source", f"optimizer.lr_{name}")
        rate = group.get("initial_lr", group["lr"])  # the scheduler's base rate, before any warm-up factor
        parts.append(f"LR {name}: {rate:.2e}" + ("" if source == f"optimizer.lr_{name}" else f" ({source})"))
    return ", ".join(parts)
