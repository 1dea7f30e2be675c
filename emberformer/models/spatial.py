"""The spatial stage: patch features back to pixels, an off-the-shelf segmentation network, a
light full-resolution refinement.

Decoders (`model.spatial.decoder`):
- `segformer`: SegFormer: the MiT encoder through `transformers` (MiT-b1 by default, or
  `segformer_config` overrides, or a checkpoint given by `pretrained`) and its all-MLP decode
  head; predicts at 1/4 resolution.
- `unet`: segmentation-models-pytorch U-Net with an smp encoder (default resnet18).
- `smp_segformer`: segmentation-models-pytorch's SegFormer with an MiT encoder (default mit_b1).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import nn

from emberformer.contract import InputSpec
from emberformer.errors import ConfigError, check_positive_int
from emberformer.models.blocks import pad_to_multiple

DECODERS = ("segformer", "unet", "smp_segformer")
SMP_DEFAULT_ENCODER = {"unet": "resnet18", "smp_segformer": "mit_b1"}
# MiT-b1 (the `nvidia/mit-b1` encoder); SegformerConfig's own defaults are b0.
MIT_B1 = {
    "hidden_sizes": [64, 128, 320, 512],
    "depths": [2, 2, 2, 2],
    "num_attention_heads": [1, 2, 5, 8],
    "decoder_hidden_size": 256,
}
# Every decoder here downsamples by 32 at its deepest stage.
DECODER_MULTIPLE = 32


@dataclasses.dataclass(frozen=True)
class SpatialConfig:
    """`model.spatial`. Keys that don't apply to the chosen decoder are ignored, so a yaml can
    carry all of them and the decoder can be switched on the command line."""

    decoder: str = "segformer"
    # segformer: false, a Hugging Face model id or a local save_pretrained directory.
    # unet / smp_segformer: false, true (= "imagenet") or an smp weights name.
    pretrained: bool | str = False
    encoder: str | None = None  # smp encoder name (unet, smp_segformer)
    segformer_config: dict | None = None  # SegformerConfig overrides on MiT-b1 (segformer, not pretrained)
    feature_channels: int = 8  # channels per pixel the temporal features are unpatchified to
    refine_channels: int = 16  # width of the full-resolution refinement; 0 = none
    refine_layers: int = 1  # 3x3 conv layers of that refinement: more lets full-res pixels mix with the decoder
    recent_frames: int = 4  # last fire frames the decoder reads at full resolution (1 = current only)

    @classmethod
    def parse(cls, spatial: Mapping | None) -> SpatialConfig:
        if spatial is None:
            return cls()
        if isinstance(spatial, DictConfig):
            spatial = OmegaConf.to_container(spatial, resolve=True)
        if not isinstance(spatial, Mapping):
            raise ConfigError(f"model.spatial={spatial!r} must be a mapping, e.g. {{decoder: segformer}}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(spatial) - known)
        if unknown:
            raise ConfigError(f"model.spatial.{unknown[0]} is not a known key; known: {', '.join(sorted(known))}")
        cfg = cls(**spatial)
        if cfg.decoder not in DECODERS:
            raise ConfigError(f"model.spatial.decoder={cfg.decoder!r} is unknown; choose one of {', '.join(DECODERS)}")
        if cfg.encoder is not None and not isinstance(cfg.encoder, str):
            raise ConfigError(f"model.spatial.encoder={cfg.encoder!r} must be an smp encoder name, e.g. resnet34")
        if cfg.segformer_config is not None and not isinstance(cfg.segformer_config, Mapping):
            raise ConfigError(
                f"model.spatial.segformer_config={cfg.segformer_config!r} must be a mapping of SegformerConfig fields"
            )
        check_positive_int(cfg.feature_channels, "model.spatial.feature_channels")
        check_positive_int(cfg.recent_frames, "model.spatial.recent_frames")
        check_positive_int(cfg.refine_layers, "model.spatial.refine_layers")
        if isinstance(cfg.refine_channels, bool) or not isinstance(cfg.refine_channels, int) or cfg.refine_channels < 0:
            raise ConfigError(f"model.spatial.refine_channels={cfg.refine_channels!r} must be an integer >= 0")
        if not isinstance(cfg.pretrained, (bool, str)) or cfg.pretrained == "":
            raise ConfigError(
                f"model.spatial.pretrained={cfg.pretrained!r} must be false, a Hugging Face model id "
                "or a local directory"
            )
        if cfg.decoder == "segformer" and cfg.pretrained is True:
            raise ConfigError(
                "model.spatial.pretrained=true is ambiguous for the segformer decoder; "
                "give a Hugging Face model id (e.g. nvidia/mit-b1) or a local directory"
            )
        if cfg.decoder == "segformer" and cfg.pretrained and cfg.segformer_config:
            raise ConfigError(
                "model.spatial.segformer_config can't be combined with model.spatial.pretrained "
                "(the checkpoint fixes the architecture); drop one of them"
            )
        return cfg

    @property
    def smp_encoder(self) -> str:
        return self.encoder or SMP_DEFAULT_ENCODER[self.decoder]

    def describe(self) -> str:
        name = "segformer" if self.decoder == "segformer" else f"{self.decoder}/{self.smp_encoder}"
        if self.pretrained:
            source = self.pretrained if isinstance(self.pretrained, str) else "imagenet"
            return f"{name} decoder, pretrained from {source}"
        return f"{name} decoder"


class SpatialDecoder(nn.Module):
    """features [B, d, H/p, W/p] + recent fire frames + the last step's dynamic bands + static
    -> logits [B, 1, H, W].

    The temporal features are unpatchified (1x1 conv d -> k*p*p, pixel shuffle) and stacked
    with the static bands, the last step's dynamic bands (if the data has any) and the last
    `recent_frames` fire frames, so the segmentation network
    sees full-resolution terrain and the exact recent fronts next to the learned dynamics. The
    patch tokens summarise how a 16-px patch evolved; the recent frames keep, per pixel, when
    the front reached it: how far it moved in the last steps, which sets where it is next.

    Its output (1/4 resolution for SegFormer) is upsampled, and a light full-resolution head
    adds a 3x3 conv of the terrain and the recent fire frames, then ReLU and a 1x1 conv: the
    coarse maps say where and how far the fire goes, the pixels place the front. (Cheaper than
    a conv over the concatenated upsampled maps: the 3x3 conv reads only the input bands, which
    need no gradient.)
    """

    def __init__(self, d_model: int | None, patch_size: int, inputs: InputSpec, cfg: SpatialConfig):
        """`d_model` None: no temporal stage; `features` are then the wind planes [B, F, H, W]."""
        super().__init__()
        self.patch_size = patch_size
        if d_model is None:
            self.feature_channels, self.unpatchify = inputs.wind_features, None
        else:
            self.feature_channels = cfg.feature_channels
            self.unpatchify = nn.Conv2d(d_model, cfg.feature_channels * patch_size**2, 1)
        self.recent_frames = cfg.recent_frames
        pixel_channels = inputs.static_channels + inputs.dynamic_channels + cfg.recent_frames
        self.decoder = build_decoder(cfg, self.feature_channels + pixel_channels, cfg.refine_channels or 1)
        if cfg.refine_channels:
            self.refine_pixels = nn.Conv2d(pixel_channels, cfg.refine_channels, 3, padding=1)
            # Beyond the first layer: a full-resolution fusion of the decoder's maps with the pixels.
            self.refine_fuse = nn.Sequential(*(layer for _ in range(cfg.refine_layers - 1) for layer in (
                nn.Conv2d(cfg.refine_channels, cfg.refine_channels, 3, padding=1), nn.ReLU(inplace=True))))
            self.refine_out = nn.Conv2d(cfg.refine_channels, 1, 1)
        else:
            self.refine_pixels = self.refine_fuse = self.refine_out = None

    def forward(
        self, features: torch.Tensor, fire: torch.Tensor, dynamic: torch.Tensor, static: torch.Tensor
    ) -> torch.Tensor:
        """`fire` is the (left-padded) history [B, T, H, W]; its last `recent_frames` are read."""
        height, width = fire.shape[-2:]
        recent = fire[:, -self.recent_frames :]
        # Steps before the first observation read as unburned, as in the batch's own left padding.
        recent = F.pad(recent, (0, 0, 0, 0, self.recent_frames - recent.shape[1], 0))
        pixels = features if self.unpatchify is None else F.pixel_shuffle(self.unpatchify(features), self.patch_size)
        x = pad_to_multiple(torch.cat([pixels, static, dynamic[:, -1], recent], dim=1), DECODER_MULTIPLE)
        out = self.decoder(x)
        if out.shape[-2:] != x.shape[-2:]:
            out = F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)
        out = out[..., :height, :width]
        if self.refine_out is None:
            return out
        data = x[:, self.feature_channels :, :height, :width]  # static, dynamic bands, recent fire
        return self.refine_out(self.refine_fuse(F.relu(out + self.refine_pixels(data))))


class SegformerDecoder(nn.Module):
    """transformers' SegFormer (MiT) encoder + an all-MLP decode head -> 1/4-res maps.

    The head is SegFormer's (per-stage linear projection to D channels, fuse, BatchNorm, ReLU,
    dropout, 1x1 classifier) written so it is cheap on CPU: SegformerForSemanticSegmentation
    upsamples every stage's projection to 1/4 resolution, concatenates them (4*D channels) and
    fuses with a 1x1 conv there. Linear maps commute with bilinear upsampling, so projecting
    each stage straight to the fused D channels and summing gives the same function class; the
    sum runs top-down (FPN order) so only one D-channel map is upsampled to 1/4 resolution.
    Measured: the HF head took ~40% of SegFormer-B1's train step at 416 px on CPU.
    Dropout2d (whole channels) replaces per-pixel dropout: the usual choice for conv feature
    maps, and a fraction of the cost.
    """

    def __init__(self, encoder: nn.Module, out_channels: int):
        super().__init__()
        config = encoder.config
        self.encoder = encoder
        hidden = config.decoder_hidden_size
        # No biases: the sum feeds a BatchNorm, which removes any constant offset.
        self.project = nn.ModuleList(nn.Conv2d(size, hidden, 1, bias=False) for size in config.hidden_sizes)
        self.norm = nn.BatchNorm2d(hidden)
        self.dropout = nn.Dropout2d(config.classifier_dropout_prob)
        self.classifier = nn.Conv2d(hidden, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stages = self.encoder(pixel_values=x, output_hidden_states=True).hidden_states[-len(self.project) :]
        fused = self.project[-1](stages[-1])
        for features, project in zip(stages[-2::-1], self.project[-2::-1], strict=True):
            fused = F.interpolate(fused, size=features.shape[-2:], mode="bilinear", align_corners=False)
            fused = fused + project(features)
        return self.classifier(self.dropout(F.relu(self.norm(fused))))


def build_decoder(cfg: SpatialConfig, in_channels: int, out_channels: int) -> nn.Module:
    if cfg.decoder == "segformer":
        return SegformerDecoder(_hf_segformer_encoder(cfg, in_channels), out_channels)
    return _smp_model(cfg, in_channels, out_channels)


def _hf_segformer_encoder(cfg: SpatialConfig, in_channels: int) -> nn.Module:
    from transformers import SegformerConfig, SegformerModel

    if not cfg.pretrained:
        overrides = {**MIT_B1, **(cfg.segformer_config or {})}
        valid = set(SegformerConfig().to_dict())
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise ConfigError(f"model.spatial.segformer_config.{unknown[0]} is not a SegformerConfig field")
        try:
            return SegformerModel(SegformerConfig(**overrides, num_channels=in_channels))
        except (ValueError, TypeError, IndexError) as err:
            raise ConfigError(f"model.spatial.segformer_config={cfg.segformer_config!r} is invalid: {err}") from None

    source = cfg.pretrained
    try:
        # Any SegFormer checkpoint: encoder-only (nvidia/mit-b*), classification or segmentation;
        # only the encoder is taken, the decode head is task-specific and starts fresh.
        encoder, loading = SegformerModel.from_pretrained(source, output_loading_info=True)
    except OSError:
        if os.path.isdir(source):
            raise ConfigError(
                f"model.spatial.pretrained={source!r}: no SegFormer checkpoint in that directory "
                "(expected config.json and model.safetensors written by save_pretrained)"
            ) from None
        raise ConfigError(
            f"model.spatial.pretrained={source!r}: the weights aren't available offline (not a local directory, "
            "not in the Hugging Face cache); set model.spatial.pretrained=false, or save them with save_pretrained "
            "where there is network access and set model.spatial.pretrained=/path/to/that/directory"
        ) from None
    missing = loading["missing_keys"]
    if missing:
        # from_pretrained would quietly start these from random weights.
        raise ConfigError(
            f"model.spatial.pretrained={source!r} is not a SegFormer encoder checkpoint: "
            f"{len(missing)} encoder weights missing (e.g. {min(missing)})"
        )
    _adapt_input_channels(encoder, in_channels)
    return encoder


def _adapt_input_channels(net: nn.Module, in_channels: int) -> None:
    """Give the first patch embedding `in_channels` inputs, each starting from the mean of the
    pretrained RGB filters scaled by 3/in_channels, so a constant input gives the activations
    the pretrained net expects whatever the number of bands."""
    name, first = next((n, m) for n, m in net.named_modules() if isinstance(m, nn.Conv2d))
    if first.in_channels == in_channels:
        return
    conv = nn.Conv2d(
        in_channels,
        first.out_channels,
        first.kernel_size,
        stride=first.stride,
        padding=first.padding,
        bias=first.bias is not None,
    )
    with torch.no_grad():
        mean = first.weight.mean(dim=1, keepdim=True)
        conv.weight.copy_(mean.repeat(1, in_channels, 1, 1) * (first.in_channels / in_channels))
        if first.bias is not None:
            conv.bias.copy_(first.bias)
    net.set_submodule(name, conv)
    net.config.num_channels = in_channels


def _smp_model(cfg: SpatialConfig, in_channels: int, out_channels: int) -> nn.Module:
    import segmentation_models_pytorch as smp

    weights: Any = None
    if cfg.pretrained:
        weights = "imagenet" if cfg.pretrained is True else cfg.pretrained
    model_cls = smp.Unet if cfg.decoder == "unet" else smp.Segformer
    try:
        return model_cls(
            encoder_name=cfg.smp_encoder,
            encoder_weights=weights,
            in_channels=in_channels,
            classes=out_channels,
        )
    except OSError:
        raise ConfigError(
            f"model.spatial.pretrained={cfg.pretrained!r}: the {cfg.smp_encoder} weights aren't available offline "
            "(not in the Hugging Face cache); set model.spatial.pretrained=false"
        ) from None
    except KeyError as err:
        raise ConfigError(f"model.spatial.encoder / pretrained: {err.args[0]}") from None
