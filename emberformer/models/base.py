"""What every spread model offers: the call of the batch contract (emberformer/contract.py), a
description, its parameter groups with the learning rate each trains at, and an epoch hook."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class LearningRates:
    """The optimizer's learning rates (conf/optimizer); each model picks those its groups train at."""

    lr: float  # optimizer.lr: a model trained from scratch as one group
    temporal: float  # optimizer.lr_temporal: EmberFormer's temporal stage
    spatial: float  # optimizer.lr_spatial: EmberFormer's spatial decoder

    @classmethod
    def same(cls, lr: float) -> LearningRates:
        return cls(lr, lr, lr)


class SpreadModel(nn.Module, ABC):
    """`model(fire, dynamic, static, wind, time_mask) -> logits [B, 1, H, W]` (emberformer/contract.py
    builds and calls it), plus what the optimizer, the banner and the loop ask of it."""

    def describe(self) -> str:
        return type(self).__name__

    @abstractmethod
    def param_groups(self, rates: LearningRates, weight_decay: float) -> list[dict]:
        """AdamW groups, each {name, params, lr, lr_source, weight_decay}: `name` makes the W&B key
        `train/lr_<name>`, `lr_source` the config key the rate comes from (the banner shows both)."""

    def on_epoch_start(self, epoch: int) -> None:
        """Called by the loop before each epoch (1-based); a no-op unless a model schedules something."""


_NO_DECAY_MODULES = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase, nn.Embedding)
# The group of a model that trains all its weights at one rate.
WHOLE_MODEL = "model"


def decay_groups(root: nn.Module, name: str, lr: float, lr_source: str, weight_decay: float,
                 exclude: Iterable[nn.Parameter] = ()) -> list[dict]:
    """AdamW groups for the parameters of `root` (minus `exclude`): weight decay on weight
    matrices/kernels only.

    Decaying biases, norm scales and embedding tables pulls them towards 0 for no regularising
    benefit (they don't set the function's complexity), so they get weight_decay 0.
    Empty groups are dropped; both halves carry `name` and `lr_source`.
    """
    decay, no_decay = [], []
    seen = {id(p) for p in exclude}
    for module in root.modules():
        for param in module.parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            (no_decay if isinstance(module, _NO_DECAY_MODULES) or param.ndim <= 1 else decay).append(param)
    common = {"name": name, "lr": lr, "lr_source": lr_source}
    groups = [{**common, "params": decay, "weight_decay": weight_decay},
              {**common, "params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def whole_model_groups(model: nn.Module, rates: LearningRates, weight_decay: float) -> list[dict]:
    """One group at `optimizer.lr`: a model trained from scratch with nothing to set apart."""
    return decay_groups(model, WHOLE_MODEL, rates.lr, "optimizer.lr", weight_decay)
