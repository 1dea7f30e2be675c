"""Per-pixel logistic regression, the simplest learned baseline of WildfireSpreadTS."""

from __future__ import annotations

from torch import nn

from emberformer.contract import InputSpec
from emberformer.errors import ConfigError, is_number
from emberformer.models.base import WHOLE_MODEL, LearningRates, SpreadModel, decay_groups
from emberformer.models.blocks import check_sizes, stacked_inputs


class LogisticBaseline(SpreadModel):
    """Logistic regression per pixel: a 1x1 conv over the last `history` steps' rasters, the static
    bands and the last step's scalars. No spatial context beyond the pixel itself."""

    def __init__(self, inputs: InputSpec, history: int = 4, lr: float | None = 0.05):
        super().__init__()
        check_sizes(history=history)
        if lr is not None and not (is_number(lr) and 0 < lr < 10):
            raise ConfigError(f"model.lr={lr} must be a learning rate > 0 (e.g. 0.05), or null for optimizer.lr")
        self.history, self.lr = history, lr
        self.linear = nn.Conv2d(history * inputs.step_channels + inputs.static_channels + inputs.wind_features,
                                1, kernel_size=1)

    def forward(self, fire, dynamic, static, wind, time_mask):
        return self.linear(stacked_inputs(fire, dynamic, static, wind, time_mask, self.history))

    def describe(self) -> str:
        return f"Logistic regression per pixel (last {self.history} frames)"

    def param_groups(self, rates: LearningRates, weight_decay: float) -> list[dict]:
        if self.lr is None:
            return decay_groups(self, WHOLE_MODEL, rates.lr, "optimizer.lr", weight_decay)
        return decay_groups(self, WHOLE_MODEL, self.lr, "model.lr", weight_decay)
