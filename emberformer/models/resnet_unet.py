"""smp U-Net (ResNet-18 encoder, random init) on the last k steps stacked as channels."""

from __future__ import annotations

from emberformer.contract import InputSpec
from emberformer.errors import ConfigError
from emberformer.models.base import LearningRates, SpreadModel, whole_model_groups
from emberformer.models.blocks import PAD_MULTIPLE, check_sizes, pad_to_multiple, stacked_inputs


class ResNetUNet(SpreadModel):
    """U-Net over [the last `history` steps' rasters, static bands, last step's scalars as planes].
    `history=1` is WildfireSpreadTS's one-day variant: the current state alone."""

    def __init__(self, inputs: InputSpec, history: int = 5, encoder: str = "resnet18"):
        super().__init__()
        import segmentation_models_pytorch as smp

        check_sizes(history=history)
        self.history, self.encoder_name = history, encoder
        try:
            self.unet = smp.Unet(
                encoder_name=encoder,
                encoder_weights=None,
                in_channels=history * inputs.step_channels + inputs.static_channels + inputs.wind_features,
                classes=1,
            )
        except KeyError:
            raise ConfigError(
                f"model.encoder={encoder!r} is not a segmentation-models-pytorch encoder; e.g. resnet18, resnet34"
            ) from None

    def forward(self, fire, dynamic, static, wind, time_mask):
        height, width = fire.shape[-2:]
        # Pad before stacking: the scalar planes then cover the whole padded grid, as they do for a
        # collated sample that was padded to a size rounding up to the same multiple.
        fire, dynamic, static = (pad_to_multiple(x, PAD_MULTIPLE) for x in (fire, dynamic, static))
        return self.unet(stacked_inputs(fire, dynamic, static, wind, time_mask, self.history))[..., :height, :width]

    def describe(self) -> str:
        return f"U-Net ({self.encoder_name}, last {self.history} frames)"

    def param_groups(self, rates: LearningRates, weight_decay: float) -> list[dict]:
        return whole_model_groups(self, rates, weight_decay)
