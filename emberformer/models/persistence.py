"""Persistence: tomorrow's fire is today's. The reference every spread model must beat."""

from __future__ import annotations

import torch

from emberformer.contract import InputSpec, burning
from emberformer.models.base import LearningRates, SpreadModel

# Logit magnitude: sigmoid(10) = 0.99995, a confident but finite prediction.
PERSISTENCE_LOGIT = 10.0


class Persistence(SpreadModel):
    """The fire doesn't spread: the next burned area is the last observed one."""

    def __init__(self, inputs: InputSpec | None = None):
        # Built like every `model=` (from the data's inputs), which it doesn't need.
        super().__init__()

    def forward(self, fire, dynamic, static, wind, time_mask) -> torch.Tensor:
        return torch.where(burning(fire[:, -1:]), PERSISTENCE_LOGIT, -PERSISTENCE_LOGIT).to(fire.dtype)

    def describe(self) -> str:
        return "Persistence (last observed fire)"

    def param_groups(self, rates: LearningRates, weight_decay: float) -> list[dict]:
        return []
