"""AdamW over the model's own parameter groups, plus the per-epoch LR schedule (`optimizer=` group)."""

from __future__ import annotations

import math

import torch

from emberformer.errors import ConfigError


def build_adamw(model, lr_temporal: float, lr_spatial: float, weight_decay: float,
                betas=(0.9, 0.999), schedule: str = "cosine", warmup_epochs: int = 0, epochs: int = 1):
    """Return (optimizer, scheduler), or (None, None) for a model with nothing to train (persistence).

    The temporal/spatial split comes from `model.param_groups`, so the loop never matches names.
    """
    groups = [g for g in model.param_groups(lr_temporal, lr_spatial, weight_decay) if g["params"]]
    if not groups:
        return None, None
    if schedule not in ("cosine", "constant"):
        raise ConfigError(f"optimizer.schedule={schedule} must be 'cosine' or 'constant'")
    optimizer = torch.optim.AdamW(groups, betas=tuple(betas))

    def lr_factor(epoch_index: int) -> float:
        # Stepped once per epoch: linear warm-up, then cosine down to 1% of the base LR.
        if epoch_index < warmup_epochs:
            return (epoch_index + 1) / (warmup_epochs + 1)
        if schedule == "constant":
            return 1.0
        progress = (epoch_index - warmup_epochs) / max(1, epochs - warmup_epochs)
        return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    return optimizer, scheduler


def group_lrs(optimizer) -> dict[str, float]:
    """{'temporal': lr, 'spatial': lr} for logging `train/lr_<name>`."""
    if optimizer is None:
        return {}
    return {g.get("name", f"group{i}"): g["lr"] for i, g in enumerate(optimizer.param_groups)}
