"""Per-pixel logistic regression, and the input helpers the WildfireSpreadTS-style baselines share."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from emberformer.errors import ConfigError, is_number
from emberformer.models.base import SpreadModel, check_positive_int, decay_groups

# Every baseline here pads H, W to this multiple and crops back: a collated image whose real size
# rounds up to the same multiple gives the same logits on its real pixels as the unpadded one.
PAD_MULTIPLE = 32


def check_sizes(**values: int) -> None:
    """`check_positive_int` on each constructor argument, reported as `model.<name>`."""
    for key, value in values.items():
        check_positive_int(value, f"model.{key}")


def wind_planes(wind: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Wind vectors [..., F] as constant planes [..., F, height, width]."""
    return wind[..., None, None].expand(*wind.shape, height, width)


def recent_frames(fire: torch.Tensor, time_mask: torch.Tensor, k: int) -> torch.Tensor:
    """The last `k` fire frames [B, k, H, W], oldest first; padded steps (and steps before a
    history shorter than `k`) are zeros, so a left-padded history reads like the unpadded one."""
    frames = fire * time_mask[:, :, None, None].to(fire.dtype)
    steps = frames.shape[1]
    if steps >= k:
        return frames[:, steps - k :]
    return F.pad(frames, (0, 0, 0, 0, k - steps, 0))


def stacked_inputs(fire, static, wind, time_mask, k: int) -> torch.Tensor:
    """Per-pixel features [B, k + C + F, H, W]: the last k fire frames, the static bands and the
    last step's wind (the last step is always real: histories are left-padded)."""
    height, width = fire.shape[-2:]
    return torch.cat([recent_frames(fire, time_mask, k), static, wind_planes(wind[:, -1], height, width)], dim=1)


class LogisticBaseline(SpreadModel):
    """Logistic regression per pixel: a 1x1 conv over the last `history` fire frames, the static
    bands and the last step's wind. No spatial context beyond the pixel itself."""

    def __init__(self, in_static_channels: int, wind_features: int = 3, history: int = 4, lr: float | None = 0.05):
        super().__init__()
        check_sizes(in_static_channels=in_static_channels, wind_features=wind_features, history=history)
        if lr is not None and not (is_number(lr) and 0 < lr < 10):
            raise ConfigError(f"model.lr={lr} must be a learning rate > 0 (e.g. 0.05), or null for optimizer.lr_temporal")
        self.history, self.lr = history, lr
        self.linear = nn.Conv2d(history + in_static_channels + wind_features, 1, kernel_size=1)

    def forward(self, fire, static, wind, time_mask):
        return self.linear(stacked_inputs(fire, static, wind, time_mask, self.history))

    def describe(self) -> str:
        return f"Logistic regression per pixel (last {self.history} frames)"

    def param_groups(self, lr_temporal: float, lr_spatial: float, weight_decay: float) -> list[dict]:
        return decay_groups(self, "spatial", lr_temporal if self.lr is None else self.lr, weight_decay)
