"""smp U-Net (ResNet-18 encoder, random init) on the last k fire frames stacked as channels."""

from __future__ import annotations

from emberformer.errors import ConfigError
from emberformer.models.base import SpreadModel, decay_groups, pad_to_multiple
from emberformer.models.logistic import PAD_MULTIPLE, check_sizes, stacked_inputs


class ResNetUNet(SpreadModel):
    """U-Net over [last `history` fire frames, static bands, last wind planes]. `history=1` is the
    one-day variant (the same inputs as the `unet` baseline)."""

    def __init__(self, in_static_channels: int, wind_features: int = 3, history: int = 5, encoder: str = "resnet18"):
        super().__init__()
        import segmentation_models_pytorch as smp

        check_sizes(in_static_channels=in_static_channels, wind_features=wind_features, history=history)
        self.history, self.encoder_name = history, encoder
        try:
            self.unet = smp.Unet(
                encoder_name=encoder,
                encoder_weights=None,
                in_channels=history + in_static_channels + wind_features,
                classes=1,
            )
        except KeyError:
            raise ConfigError(
                f"model.encoder={encoder!r} is not a segmentation-models-pytorch encoder; e.g. resnet18, resnet34"
            ) from None

    def forward(self, fire, static, wind, time_mask):
        height, width = fire.shape[-2:]
        # Pad before stacking: the wind planes then cover the whole padded grid, as they do for a
        # collated sample that was padded to a size rounding up to the same multiple.
        fire, static = pad_to_multiple(fire, PAD_MULTIPLE), pad_to_multiple(static, PAD_MULTIPLE)
        return self.unet(stacked_inputs(fire, static, wind, time_mask, self.history))[..., :height, :width]

    def describe(self) -> str:
        return f"U-Net ({self.encoder_name}, last {self.history} frames)"

    def param_groups(self, lr_temporal: float, lr_spatial: float, weight_decay: float) -> list[dict]:
        # Random init like the `unet` baseline: one group at the from-scratch rate.
        return decay_groups(self, "spatial", lr_temporal, weight_decay)
