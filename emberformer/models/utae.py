"""U-Net with temporal attention encoder in the style of U-TAE (Garnot & Landrieu, 2021).

A shared per-date conv encoder; a lightweight temporal attention encoder (L-TAE) over the dates at
the lowest resolution, whose per-pixel, per-head attention masks (upsampled) also aggregate every
skip level over time; a conv decoder. No maintained PyPI package provides U-TAE (searched the
package list for utae, ltae, sits), so this compact version is written here.

Differences from the paper: the per-date features start at 1/2 resolution (a strided stem, so
400x400 histories fit in memory) with a full-resolution head; positions are steps before the
present (left-padding doesn't shift them) rather than day of year; LayerNorm per date instead of
GroupNorm over the sequence, so padded dates never enter a statistic.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from emberformer.contract import InputSpec
from emberformer.errors import ConfigError
from emberformer.models.base import LearningRates, SpreadModel, whole_model_groups
from emberformer.models.blocks import PAD_MULTIPLE, DateStem, FullResHead, check_sizes, conv_bn_relu, padded_inputs


def steps_before_present(steps: int, dim: int, device) -> torch.Tensor:
    """Sinusoidal encodings [steps, dim] of T-1-t (the last date is position 0)."""
    position = torch.arange(steps - 1, -1, -1, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(1000.0) / dim))
    enc = torch.zeros(steps, dim, device=device)
    enc[:, 0::2] = torch.sin(position * freq)
    enc[:, 1::2] = torch.cos(position * freq)[:, : dim // 2]
    return enc


class LTAE(nn.Module):
    """Per-pixel attention over dates with one learned master query per head.

    `forward(x [P, T, d], mask [P, T]) -> (out [P, d], attention [P, heads, T])`; the values are
    the input channels split into `heads` groups, each weighted by its head's attention."""

    def __init__(self, channels: int, heads: int, key_dim: int):
        super().__init__()
        self.heads, self.key_dim = heads, key_dim
        self.norm = nn.LayerNorm(channels)
        self.keys = nn.Linear(channels, heads * key_dim)
        self.query = nn.Parameter(torch.randn(heads, key_dim) * key_dim**-0.5)
        self.out = nn.Sequential(nn.Linear(channels, channels), nn.LayerNorm(channels), nn.ReLU(inplace=True))

    def forward(self, x, mask):
        pixels, steps, channels = x.shape
        x = self.norm(x) + steps_before_present(steps, channels, x.device).to(x.dtype)
        keys = self.keys(x).view(pixels, steps, self.heads, self.key_dim)
        scores = (keys * self.query).sum(-1) / math.sqrt(self.key_dim)  # [P, T, heads]
        attention = scores.masked_fill(~mask[:, :, None], float("-inf")).softmax(dim=1)
        values = x.view(pixels, steps, self.heads, channels // self.heads)
        out = (attention[..., None] * values).sum(dim=1).reshape(pixels, channels)
        return self.out(out), attention.permute(0, 2, 1)


def aggregate(features, attention, b, t, batch: int):
    """Attention-weighted sum over dates of one level's per-date features [N, C, h, w] (N real
    dates at (b, t)), with attention [B, heads, T, h0, w0] upsampled to (h, w): [B, C, h, w]."""
    heads, steps = attention.shape[1:3]
    size = features.shape[-2:]
    if attention.shape[-2:] != size:
        flat = attention.flatten(1, 2)
        attention = F.interpolate(flat, size=size, mode="bilinear", align_corners=False).unflatten(1, (heads, steps))
    weights = attention[b, :, t]  # [N, heads, h, w]
    n, channels = features.shape[:2]
    weighted = (features.view(n, heads, channels // heads, *size) * weights[:, :, None]).view(n, channels, *size)
    return features.new_zeros(batch, channels, *size).index_add(0, b, weighted)


class UTAE(SpreadModel):
    """Per-date encoder (widths[i] channels at 1/2^(i+1) resolution) -> L-TAE at the lowest level
    -> attention-weighted skips -> U-Net decoder -> full-resolution head."""

    def __init__(self, inputs: InputSpec, widths=(16, 32, 64), heads: int = 4, key_dim: int = 8,
                 head_channels: int = 16):
        super().__init__()
        widths = [int(w) for w in widths]
        check_sizes(heads=heads, key_dim=key_dim, head_channels=head_channels)
        if not widths or len(widths) > int(math.log2(PAD_MULTIPLE)):
            raise ConfigError(f"model.widths={widths} must list 1 to {int(math.log2(PAD_MULTIPLE))} widths")
        for i, width in enumerate(widths):
            check_sizes(**{f"widths[{i}]": width})
            if width % heads:
                raise ConfigError(f"model.widths[{i}]={width} is not divisible by model.heads={heads}")
        self.widths, self.heads = widths, heads
        self.stem = DateStem(inputs.step_channels, inputs.static_channels, inputs.wind_features, widths[0])
        self.encoder = nn.ModuleList(
            [conv_bn_relu(widths[0], widths[0])]
            + [nn.Sequential(conv_bn_relu(cin, cout, stride=2), conv_bn_relu(cout, cout))
               for cin, cout in zip(widths, widths[1:])]
        )
        self.ltae = LTAE(widths[-1], heads, key_dim)
        self.up = nn.ModuleList([nn.ConvTranspose2d(cin, cout, 2, stride=2) for cin, cout in zip(widths[1:], widths)])
        self.decoder = nn.ModuleList([conv_bn_relu(2 * cout, cout) for cout in widths[:-1]])
        self.head = FullResHead(widths[0], inputs.static_channels, head_channels)

    def forward(self, fire, dynamic, static, wind, time_mask):
        fire, dynamic, static, (height, width) = padded_inputs(fire, dynamic, static)
        x, (b, t) = self.stem(fire, dynamic, static, wind, time_mask)
        levels = []
        for block in self.encoder:
            x = block(x)
            levels.append(x)
        batch, steps = time_mask.shape
        lowest = levels[-1]
        channels, h, w = lowest.shape[1:]
        dates = lowest.new_zeros(batch, h, w, steps, channels)
        dates[b, :, :, t] = lowest.permute(0, 2, 3, 1)
        mask = time_mask[:, None, None, :].expand(batch, h, w, steps).reshape(-1, steps)
        out, attention = self.ltae(dates.reshape(-1, steps, channels), mask)
        x = out.view(batch, h, w, channels).permute(0, 3, 1, 2)
        attention = attention.view(batch, h, w, self.heads, steps).permute(0, 3, 4, 1, 2)
        for level, up, decode in zip(reversed(levels[:-1]), reversed(self.up), reversed(self.decoder)):
            x = decode(torch.cat([up(x), aggregate(level, attention, b, t, batch)], dim=1))
        return self.head(x, fire[:, -1:], static)[..., :height, :width]

    def describe(self) -> str:
        return f"U-TAE (widths {self.widths}, {self.heads}-head L-TAE)"

    def param_groups(self, rates: LearningRates, weight_decay: float) -> list[dict]:
        return whole_model_groups(self, rates, weight_decay)
