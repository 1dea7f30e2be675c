"""Spread models, one per file (`model=` presets in conf/model): built and called through the batch
contract (emberformer/contract.py); shared layers in blocks.py."""

from emberformer.models.base import LearningRates, SpreadModel
from emberformer.models.convlstm import ConvLSTMBaseline
from emberformer.models.emberformer import EmberFormer
from emberformer.models.logistic import LogisticBaseline
from emberformer.models.persistence import Persistence
from emberformer.models.resnet_unet import ResNetUNet
from emberformer.models.utae import UTAE

__all__ = [
    "UTAE",
    "ConvLSTMBaseline",
    "EmberFormer",
    "LearningRates",
    "LogisticBaseline",
    "Persistence",
    "ResNetUNet",
    "SpreadModel",
]
