"""Reference points for EmberFormer: no-change persistence and a non-temporal U-Net."""

from __future__ import annotations

import torch

from emberformer.errors import ConfigError
from emberformer.models.base import SpreadModel, check_positive_int, decay_groups, pad_to_multiple

# Logit magnitude for Persistence: sigmoid(10) = 0.99995, a confident but finite prediction.
PERSISTENCE_LOGIT = 10.0
UNET_MULTIPLE = 32  # the smp encoders downsample 5 times


class Persistence(SpreadModel):
    """The fire doesn't spread: the next burned area is the last observed one."""

    def __init__(self, in_static_channels: int | None = None, wind_features: int | None = None):
        # Same constructor as the other models so the loop builds every `model=` alike; inputs are unused.
        super().__init__()

    def forward(
        self, fire: torch.Tensor, static: torch.Tensor, wind: torch.Tensor, time_mask: torch.Tensor
    ) -> torch.Tensor:
        last = fire[:, -1:]
        return torch.where(last > 0.5, PERSISTENCE_LOGIT, -PERSISTENCE_LOGIT).to(fire.dtype)

    def describe(self) -> str:
        return "Persistence (last observed fire)"

    def param_groups(self, lr_temporal: float, lr_spatial: float, weight_decay: float) -> list[dict]:
        return []


class UNetBaseline(SpreadModel):
    """smp U-Net on the last fire frame, the static bands and the last step's wind (as constant
    channels): what a purely spatial model gets from the current state alone."""

    def __init__(self, in_static_channels: int, wind_features: int = 3, encoder: str = "resnet18"):
        super().__init__()
        import segmentation_models_pytorch as smp

        check_positive_int(in_static_channels, "model.in_static_channels")
        check_positive_int(wind_features, "model.wind_features")
        self.encoder_name = encoder
        try:
            self.unet = smp.Unet(
                encoder_name=encoder,
                encoder_weights=None,
                in_channels=1 + in_static_channels + wind_features,
                classes=1,
            )
        except KeyError:
            raise ConfigError(
                f"model.encoder={encoder!r} is not a segmentation-models-pytorch encoder; e.g. resnet18, resnet34"
            ) from None

    def forward(
        self, fire: torch.Tensor, static: torch.Tensor, wind: torch.Tensor, time_mask: torch.Tensor
    ) -> torch.Tensor:
        height, width = fire.shape[-2:]
        # Pad before the wind planes go in: they then cover the whole padded grid, so a sample's
        # logits don't depend on how much its batch was padded.
        x = pad_to_multiple(torch.cat([fire[:, -1:], static], dim=1), UNET_MULTIPLE)
        wind_planes = wind[:, -1, :, None, None].expand(-1, -1, *x.shape[-2:])
        return self.unet(torch.cat([x, wind_planes], dim=1))[..., :height, :width]

    def describe(self) -> str:
        return f"U-Net baseline ({self.encoder_name}, last frame only)"

    def param_groups(self, lr_temporal: float, lr_spatial: float, weight_decay: float) -> list[dict]:
        # lr_spatial is tuned for fine-tuning a (possibly pretrained) decoder; this U-Net starts
        # from random weights like EmberFormer's temporal part, so it gets that learning rate.
        return decay_groups(self, "spatial", lr_temporal, weight_decay)
