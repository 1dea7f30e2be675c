"""Layers and input helpers that several models share (each model file holds one model)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from emberformer.contract import step_rasters
from emberformer.errors import check_positive_int

# The baselines pad H, W to this multiple and crop back (smp encoders downsample 5 times): a collated
# image whose real size rounds up to the same multiple gives the same logits on its real pixels.
PAD_MULTIPLE = 32


def check_sizes(**values: int) -> None:
    """`check_positive_int` on each constructor argument, reported as `model.<name>`."""
    for key, value in values.items():
        check_positive_int(value, f"model.{key}")


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the last two dims at the bottom/right (like the collate's spatial padding)."""
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h))


def wind_planes(wind: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Per-step scalars [..., F] as constant planes [..., F, height, width]."""
    return wind[..., None, None].expand(*wind.shape, height, width)


def recent_steps(fire: torch.Tensor, dynamic: torch.Tensor, time_mask: torch.Tensor, k: int) -> torch.Tensor:
    """The last `k` steps' rasters stacked as channels [B, k * (1 + D), H, W], oldest first, each step's
    fire mask before its dynamic bands; padded steps (and steps before a history shorter than `k`) are
    zeros, so a left-padded history reads like the unpadded one."""
    rasters = step_rasters(fire, dynamic) * time_mask[:, :, None, None, None].to(fire.dtype)
    steps = rasters.shape[1]
    if steps >= k:
        rasters = rasters[:, steps - k:]
    else:
        rasters = F.pad(rasters, (0, 0, 0, 0, 0, 0, k - steps, 0))
    return rasters.flatten(1, 2)


def stacked_inputs(fire, dynamic, static, wind, time_mask, k: int) -> torch.Tensor:
    """Per-pixel features [B, k * (1 + D) + C + F, H, W]: the last k steps' rasters, the static bands and
    the last step's scalars as planes (the last step is always real: histories are left-padded)."""
    height, width = fire.shape[-2:]
    return torch.cat([recent_steps(fire, dynamic, time_mask, k), static, wind_planes(wind[:, -1], height, width)],
                     dim=1)


def padded_inputs(fire, dynamic, static):
    """(fire, dynamic, static) zero-padded to PAD_MULTIPLE, and the (height, width) to crop back to."""
    return (pad_to_multiple(fire, PAD_MULTIPLE), pad_to_multiple(dynamic, PAD_MULTIPLE),
            pad_to_multiple(static, PAD_MULTIPLE), fire.shape[-2:])


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DateStem(nn.Module):
    """Strided first conv of a per-date encoder over [step rasters_t, static, scalars_t as planes],
    run on the real dates only (padded steps cost nothing and never enter BatchNorm statistics).

    Convolution is linear, so the static bands' part is computed once per sample and added to
    each of its dates instead of being stacked into every date's input.
    Returns (features [N, out, H/2, W/2], (batch index, step index) of the N real dates)."""

    def __init__(self, step_channels: int, in_static_channels: int, wind_features: int, out_channels: int):
        super().__init__()
        self.dynamic = nn.Conv2d(step_channels + wind_features, out_channels, 3, stride=2, padding=1, bias=False)
        self.static = nn.Conv2d(in_static_channels, out_channels, 3, stride=2, padding=1, bias=False)
        self.post = nn.Sequential(nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, fire, dynamic, static, wind, time_mask):
        b, t = time_mask.nonzero(as_tuple=True)
        height, width = fire.shape[-2:]
        per_date = torch.cat([fire[b, t][:, None], dynamic[b, t], wind_planes(wind[b, t], height, width)], dim=1)
        return self.post(self.dynamic(per_date) + self.static(static)[b]), (b, t)


class FullResHead(nn.Module):
    """Upsample coarse features to the input grid and read them with the current fire and the
    static bands at full resolution, so burn boundaries stay pixel-sharp."""

    def __init__(self, in_channels: int, in_static_channels: int, width: int = 16):
        super().__init__()
        self.refine = nn.Sequential(
            nn.Conv2d(in_channels + 1 + in_static_channels, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 1, 1),
        )

    def forward(self, features, fire_last, static):
        features = F.interpolate(features, size=fire_last.shape[-2:], mode="bilinear", align_corners=False)
        return self.refine(torch.cat([features, fire_last, static], dim=1))
