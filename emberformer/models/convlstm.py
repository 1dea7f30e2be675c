"""ConvLSTM over the history, a temporal baseline of WildfireSpreadTS.

No maintained PyTorch ConvLSTM package exists on PyPI (only `convlstm-mlx`, for Apple MLX), so
the cell is written here: one 3x3 conv producing the four gates from [input, hidden].
"""

from __future__ import annotations

import torch
from torch import nn

from emberformer.contract import InputSpec
from emberformer.models.base import LearningRates, SpreadModel, whole_model_groups
from emberformer.models.blocks import DateStem, FullResHead, check_sizes, conv_bn_relu, padded_inputs


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

    def __init__(self, inputs: InputSpec, hidden: int = 32, encoder_channels: int = 16, head_channels: int = 16):
        super().__init__()
        check_sizes(hidden=hidden, encoder_channels=encoder_channels, head_channels=head_channels)
        self.stem = DateStem(inputs.step_channels, inputs.static_channels, inputs.wind_features, encoder_channels)
        self.down = conv_bn_relu(encoder_channels, 2 * encoder_channels, stride=2)
        self.cell = ConvLSTMCell(2 * encoder_channels, hidden)
        self.decoder = conv_bn_relu(hidden, hidden)
        self.head = FullResHead(hidden, inputs.static_channels, head_channels)
        self.hidden = hidden

    def forward(self, fire, dynamic, static, wind, time_mask):
        fire, dynamic, static, (height, width) = padded_inputs(fire, dynamic, static)
        features, (b, t) = self.stem(fire, dynamic, static, wind, time_mask)
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

    def param_groups(self, rates: LearningRates, weight_decay: float) -> list[dict]:
        return whole_model_groups(self, rates, weight_decay)
