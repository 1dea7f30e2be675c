"""EmberFormer: a temporal transformer per patch, then a segmentation network over the grid."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from emberformer.contract import InputSpec
from emberformer.errors import ConfigError, check_positive_int
from emberformer.models.base import LearningRates, SpreadModel, decay_groups
from emberformer.models.blocks import pad_to_multiple
from emberformer.models.spatial import SpatialConfig, SpatialDecoder
from emberformer.models.temporal import TemporalEncoder


class EmberFormer(SpreadModel):
    """Next-step burned area from the fire history (and any other per-step rasters), the static
    landscape and the per-step wind.

    `forward(fire [B,T,H,W], dynamic [B,T,D,H,W], static [B,C,H,W], wind [B,T,F], time_mask [B,T])
    -> logits [B,1,H,W]` for any H, W (padded internally, cropped back).

    Parameter groups: "spatial" is the segmentation network (`spatial.decoder`, possibly
    pretrained, frozen for the first `freeze_epochs` epochs, optimizer.lr_spatial); "temporal" is
    everything EmberFormer adds around it (embeddings, temporal transformer, unpatchify,
    refinement; all trained from scratch, optimizer.lr_temporal).
    """

    def __init__(
        self,
        inputs: InputSpec,
        patch_size: int = 16,
        d_model: int = 96,
        nhead: int = 8,
        num_layers: int = 4,
        dim_feedforward: int = 384,
        dropout: float = 0.1,
        max_history: int = 64,
        spatial: Mapping | None = None,
        freeze_epochs: int = 0,
        skip_quiet_patches: bool = True,
        checkpoint_temporal: bool = True,
        temporal_stage: bool = True,
    ):
        super().__init__()
        for key, value in {
            "patch_size": patch_size,
            "d_model": d_model,
            "nhead": nhead,
            "num_layers": num_layers,
            "dim_feedforward": dim_feedforward,
            "max_history": max_history,
        }.items():
            check_positive_int(value, f"model.{key}")
        if d_model % nhead:
            raise ConfigError(
                f"model.d_model={d_model} is not divisible by model.nhead={nhead}; pick d_model = k * nhead"
            )
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"model.dropout={dropout!r} must be in [0, 1)")
        if isinstance(freeze_epochs, bool) or not isinstance(freeze_epochs, int) or freeze_epochs < 0:
            raise ConfigError(f"model.freeze_epochs={freeze_epochs!r} must be an integer >= 0")
        self.spatial_cfg = SpatialConfig.parse(spatial)
        self.patch_size = patch_size
        self.freeze_epochs = freeze_epochs
        if not isinstance(temporal_stage, bool):
            raise ConfigError(f"model.temporal_stage={temporal_stage!r} must be true or false")
        # The ablation without the temporal transformer: the decoder reads the per-pixel inputs
        # alone, with the current step's wind scalars as constant planes so no input is lost.
        self.temporal = None if not temporal_stage else TemporalEncoder(
            inputs,
            patch_size,
            d_model,
            nhead,
            num_layers,
            dim_feedforward,
            dropout,
            max_history,
            bool(skip_quiet_patches),
            bool(checkpoint_temporal),
        )
        self.spatial = SpatialDecoder(d_model if temporal_stage else None, patch_size, inputs, self.spatial_cfg)
        self._set_decoder_frozen(freeze_epochs > 0)

    def forward(
        self,
        fire: torch.Tensor,
        dynamic: torch.Tensor,
        static: torch.Tensor,
        wind: torch.Tensor,
        time_mask: torch.Tensor,
    ) -> torch.Tensor:
        height, width = fire.shape[-2:]
        fire, dynamic, static = (pad_to_multiple(x, self.patch_size) for x in (fire, dynamic, static))
        if self.temporal is None:
            features = wind[:, -1, :, None, None].expand(-1, -1, *fire.shape[-2:])
        else:
            features = self.temporal(fire, dynamic, static, wind, time_mask)
        logits = self.spatial(features, fire, dynamic, static)
        return logits[..., :height, :width]

    def describe(self) -> str:
        frozen = f", frozen for {self.freeze_epochs} epochs" if self.freeze_epochs else ""
        ablation = ", no temporal stage" if self.temporal is None else ""
        return f"EmberFormer ({self.spatial_cfg.describe()}{frozen}{ablation})"

    def param_groups(self, rates: LearningRates, weight_decay: float) -> list[dict]:
        # Frozen parameters stay in their group (requires_grad False, grad None: AdamW skips
        # them) so the optimizer state keeps one layout across the unfreeze and on resume.
        decoder = self.spatial.decoder
        temporal = decay_groups(
            self, "temporal", rates.temporal, "optimizer.lr_temporal", weight_decay, exclude=decoder.parameters()
        )
        return temporal + decay_groups(decoder, "spatial", rates.spatial, "optimizer.lr_spatial", weight_decay)

    def on_epoch_start(self, epoch: int) -> None:
        self._set_decoder_frozen(epoch <= self.freeze_epochs)

    def train(self, mode: bool = True):
        super().train(mode)
        if self._decoder_frozen:
            # A frozen decoder also keeps its BatchNorm statistics and turns dropout off.
            self.spatial.decoder.eval()
        return self

    def _set_decoder_frozen(self, frozen: bool) -> None:
        self._decoder_frozen = frozen
        self.spatial.decoder.requires_grad_(not frozen)
        self.train(self.training)
