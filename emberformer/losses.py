"""Losses for binary next-step fire masks (the `loss=` config group).

Every loss takes `(logits [B,1,H,W], target [B,1,H,W], pixel_mask [B,1,H,W] bool)` and returns
`(total, parts)`, where `parts` holds the named components logged as `train/<part>_step`.
Padded pixels (pixel_mask False) never count. Dice and Tversky come from
segmentation-models-pytorch; its `ignore_index` is how the padding is masked out.
"""

from __future__ import annotations

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch import nn

from emberformer.errors import ConfigError
from emberformer.metrics import IGNORE_INDEX


def _check_non_negative(**values: float) -> None:
    for key, value in values.items():
        if value is None or value < 0:
            raise ConfigError(f"loss.{key}={value} must be >= 0 (e.g. loss.{key}=0.5)")


def _masked_bce(logits, target, pixel_mask, pos_weight: float) -> torch.Tensor:
    weight = torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    per_pixel = F.binary_cross_entropy_with_logits(logits, target, pos_weight=weight, reduction="none")
    mask = pixel_mask.to(per_pixel.dtype)
    return (per_pixel * mask).sum() / mask.sum().clamp_min(1.0)


def _ignoring_padding(target, pixel_mask) -> torch.Tensor:
    return torch.where(pixel_mask, target, torch.full_like(target, IGNORE_INDEX))


class FireLoss(nn.Module):
    """What the loop asks of every loss besides forward: a banner name and data-dependent set-up."""

    name = ""

    def needs_positive_fraction(self) -> bool:
        """True when the loss must be told the train split's share of fire pixels before training."""
        return False


class BCELoss(FireLoss):
    """Pixel-wise BCE; `pos_weight` up-weights the rare fire pixels ("auto": neg/pos of the train split)."""

    name = "BCE"

    def __init__(self, pos_weight: float | str = 1.0):
        super().__init__()
        if pos_weight != "auto":
            _check_non_negative(pos_weight=pos_weight)
        self.pos_weight = pos_weight

    def needs_positive_fraction(self) -> bool:
        return self.pos_weight == "auto"

    def set_positive_fraction(self, fraction: float) -> None:
        """Resolve pos_weight=auto from the train split's share of fire pixels."""
        # Capped: a ratio of several hundred makes the model paint everything as fire.
        self.pos_weight = float(min((1.0 - fraction) / max(fraction, 1e-6), 100.0))

    def describe(self) -> str:
        return f"BCE (pos_weight={self.pos_weight:.3g})"

    def forward(self, logits, target, pixel_mask):
        bce = _masked_bce(logits, target, pixel_mask, self.pos_weight)
        return bce, {"bce": bce.detach()}


class BCEDiceLoss(FireLoss):
    """bce_weight * BCE + dice_weight * Dice: BCE for pixel-wise stability, Dice for region overlap."""

    name = "BCE+Dice"

    def __init__(self, bce_weight: float = 0.5, dice_weight: float = 0.5, pos_weight: float = 1.0):
        super().__init__()
        _check_non_negative(bce_weight=bce_weight, dice_weight=dice_weight, pos_weight=pos_weight)
        if bce_weight + dice_weight == 0:
            raise ConfigError("loss.bce_weight and loss.dice_weight are both 0: give at least one a positive weight")
        self.bce_weight, self.dice_weight, self.pos_weight = float(bce_weight), float(dice_weight), float(pos_weight)
        self.dice = smp.losses.DiceLoss(mode="binary", from_logits=True, ignore_index=IGNORE_INDEX)

    def describe(self) -> str:
        return f"BCE ({self.bce_weight:g}) + Dice ({self.dice_weight:g})"

    def forward(self, logits, target, pixel_mask):
        bce = _masked_bce(logits, target, pixel_mask, self.pos_weight)
        dice = self.dice(logits, _ignoring_padding(target, pixel_mask))
        total = self.bce_weight * bce + self.dice_weight * dice
        return total, {"bce": bce.detach(), "dice": dice.detach()}


class FocalTverskyLoss(FireLoss):
    """Focal Tversky: alpha/beta trade false positives against false negatives, gamma focuses hard cases."""

    name = "FocalTversky"

    def __init__(self, alpha: float = 0.3, beta: float = 0.7, gamma: float = 1.33):
        super().__init__()
        _check_non_negative(alpha=alpha, beta=beta, gamma=gamma)
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.tversky = smp.losses.TverskyLoss(mode="binary", from_logits=True, ignore_index=IGNORE_INDEX,
                                              alpha=alpha, beta=beta, gamma=gamma)

    def describe(self) -> str:
        return f"Focal Tversky (alpha={self.alpha:g}, beta={self.beta:g}, gamma={self.gamma:g})"

    def forward(self, logits, target, pixel_mask):
        loss = self.tversky(logits, _ignoring_padding(target, pixel_mask))
        return loss, {"focal_tversky": loss.detach()}
