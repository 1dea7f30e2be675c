"""ConvLSTM over the fire history, and the per-date encoder pieces it shares with UTAE.

No maintained PyTorch ConvLSTM package exists on PyPI (only `convlstm-mlx`, for Apple MLX), so
the cell is written here: one 3x3 conv producing the four gates from [input, hidden].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from emberformer.models.base import SpreadModel, decay_groups, pad_to_multiple
from emberformer.models.logistic import PAD_MULTIPLE, check_sizes, wind_planes


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DateStem(nn.Module):
    """Strided first conv of a per-date encoder over [fire_t, static, wind_t planes], run on the
    real dates only (padded steps cost nothing and never enter BatchNorm statistics).

    Convolution is linear, so the static bands' part is computed once per sample and added to
    each of its dates instead of being stacked into every date's input.
    Returns (features [N, out, H/2, W/2], (batch index, step index) of the N real dates)."""

    def __init__(self, in_static_channels: int, wind_features: int, out_channels: int):
        super().__init__()
        self.dynamic = nn.Conv2d(1 + wind_features, out_channels, 3, stride=2, padding=1, bias=False)
        self.static = nn.Conv2d(in_static_channels, out_channels, 3, stride=2, padding=1, bias=False)
        self.post = nn.Sequential(nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, fire, static, wind, time_mask):
        b, t = time_mask.nonzero(as_tuple=True)
        height, width = fire.shape[-2:]
        dynamic = torch.cat([fire[b, t][:, None], wind_planes(wind[b, t], height, width)], dim=1)
        return self.post(self.dynamic(dynamic) + self.static(static)[b]), (b, t)


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


def padded_inputs(fire, static):
    """(fire, static) zero-padded to PAD_MULTIPLE, and the (height, width) to crop back to."""
    return pad_to_multiple(fire, PAD_MULTIPLE), pad_to_multiple(static, PAD_MULTIPLE), fire.shape[-2:]


class ConvLSTMCell(nn.Module):
    def __init__(self, in_channels: int, hidden: int, kernel_size: int = 3):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel_size, padding=kernel_size // 2)

    def forward(self, x, state):
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class ConvLSTMBaseline(SpreadModel):
    """Per-date strided encoder (1/4 resolution) -> ConvLSTM over the dates -> small decoder and a
    full-resolution head. Padded (masked) steps leave the state untouched."""

    def __init__(self, in_static_channels: int, wind_features: int = 3, hidden: int = 32,
                 encoder_channels: int = 16, head_channels: int = 16):
        super().__init__()
        check_sizes(in_static_channels=in_static_channels, wind_features=wind_features, hidden=hidden,
                    encoder_channels=encoder_channels, head_channels=head_channels)
        self.stem = DateStem(in_static_channels, wind_features, encoder_channels)
        self.down = conv_bn_relu(encoder_channels, 2 * encoder_channels, stride=2)
        self.cell = ConvLSTMCell(2 * encoder_channels, hidden)
        self.decoder = conv_bn_relu(hidden, hidden)
        self.head = FullResHead(hidden, in_static_channels, head_channels)
        self.hidden = hidden

    def forward(self, fire, static, wind, time_mask):
        fire, static, (height, width) = padded_inputs(fire, static)
        features, (b, t) = self.stem(fire, static, wind, time_mask)
        features = self.down(features)
        batch, steps = time_mask.shape
        dates = features.new_zeros(batch, steps, *features.shape[1:])
        dates[b, t] = features
        h = features.new_zeros(batch, self.hidden, *features.shape[-2:])
        c = torch.zeros_like(h)
        for step in range(steps):
            h_new, c_new = self.cell(dates[:, step], (h, c))
            real = time_mask[:, step, None, None, None]
            h, c = torch.where(real, h_new, h), torch.where(real, c_new, c)
        logits = self.head(self.decoder(h), fire[:, -1:], static)
        return logits[..., :height, :width]

    def describe(self) -> str:
        return f"ConvLSTM (hidden {self.hidden}, 1/4 resolution)"

    def param_groups(self, lr_temporal: float, lr_spatial: float, weight_decay: float) -> list[dict]:
        return decay_groups(self, "temporal", lr_temporal, weight_decay)
