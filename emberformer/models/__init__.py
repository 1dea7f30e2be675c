"""Spread models: `model(fire, static, wind, time_mask) -> logits [B, 1, H, W]` (see the batch contract)."""

from emberformer.models.base import SpreadModel
from emberformer.models.baselines import Persistence, UNetBaseline
from emberformer.models.convlstm import ConvLSTMBaseline
from emberformer.models.emberformer import EmberFormer
from emberformer.models.logistic import LogisticBaseline
from emberformer.models.resnet_unet import ResNetUNet
from emberformer.models.utae import UTAE

__all__ = [
    "UTAE",
    "ConvLSTMBaseline",
    "EmberFormer",
    "LogisticBaseline",
    "Persistence",
    "ResNetUNet",
    "SpreadModel",
    "UNetBaseline",
]
