"""Spread models: `model(fire, static, wind, time_mask) -> logits [B, 1, H, W]` (see the batch contract)."""

from emberformer.models.base import SpreadModel
from emberformer.models.baselines import Persistence, UNetBaseline
from emberformer.models.emberformer import EmberFormer

__all__ = ["EmberFormer", "Persistence", "SpreadModel", "UNetBaseline"]
