"""The contract between data and models: what a batch holds, how a model is built from a dataset's
description, how it is called on a batch, and what the masks in it mean.

Every data family (`data=`) offers `inputs` (an `InputSpec`: its channels and features, by name)
and `to_device(device)`, which turns the DataLoader's compact batches into a `Batch` on the
device. Every model in `model=` is built by `build_model(cfg.model, data.inputs)` and called by
`predict_logits(model, batch)`: the training loop, the analysis commands and the benchmarks all go
through these two functions, so a new data family or model changes nothing else.

A `Batch` on the device (histories are left-padded in time, images zero-padded bottom/right):

| key | shape, dtype | what |
|---|---|---|
| fire | [B, T, H, W] float32 in {0, 1} | the fire mask of each observed step |
| dynamic | [B, T, D, H, W] float32 | the other per-step rasters, D = inputs.dynamic_channels (0: organized_spreads) |
| static | [B, C, H, W] float32 | the static bands, C = inputs.static_channels |
| wind | [B, T, F] float32 | per-step scalars (wind), F = inputs.wind_features (may be 0) |
| time_mask | [B, T] bool | True at real (not padded) steps; the last step is always real |
| target | [B, 1, H, W] float32 in {0, 1} | the next step's fire mask |
| pixel_mask | [B, 1, H, W] bool | True at real (not padded) pixels |
| seq_id, t, length | [B] long, on the CPU | sequence id, last observed step, history length |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

import torch

# A mask value above this is burning: the one binarisation of fire masks and targets.
BURNING_ABOVE = 0.5


def burning(mask):
    """Where a fire mask (or a probability map) counts as burning; numpy arrays or tensors."""
    return mask > BURNING_ABOVE


def newly_burned(target, last_fire):
    """Pixels burning in `target` that were not burning in `last_fire`: the growth of the fire,
    the part of a next-step target that persistence cannot predict."""
    return burning(target) & ~burning(last_fire)


class Batch(TypedDict):
    """A batch on the device (the table in the module docstring)."""

    fire: torch.Tensor
    dynamic: torch.Tensor
    static: torch.Tensor
    wind: torch.Tensor
    time_mask: torch.Tensor
    target: torch.Tensor
    pixel_mask: torch.Tensor
    seq_id: torch.Tensor
    t: torch.Tensor
    length: torch.Tensor


@dataclass(frozen=True)
class InputSpec:
    """What a data family feeds its models: the numbers of channels fix the models' input layers,
    the names are what the banner lists."""

    static_names: tuple[str, ...]
    wind_names: tuple[str, ...] = ()
    dynamic_names: tuple[str, ...] = ()

    @property
    def static_channels(self) -> int:
        return len(self.static_names)

    @property
    def wind_features(self) -> int:
        return len(self.wind_names)

    @property
    def dynamic_channels(self) -> int:
        return len(self.dynamic_names)

    @property
    def step_channels(self) -> int:
        """Raster channels per step: the fire mask and the dynamic bands."""
        return 1 + self.dynamic_channels

    def describe(self) -> str:
        parts = [f"per step: fire{''.join(', ' + n for n in self.dynamic_names)}"]
        if self.wind_names:
            parts.append(f"per-step scalars: {', '.join(self.wind_names)}")
        parts.append(f"static: {', '.join(self.static_names) or 'none'}")
        return "; ".join(parts)


def step_rasters(fire: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
    """[B, T, 1 + D, H, W] from a batch's `fire` and `dynamic`: each step's fire mask, then its dynamic bands."""
    if dynamic.shape[2] == 0:
        return fire[:, :, None]  # a view: no copy when there is nothing to add
    return torch.cat([fire[:, :, None], dynamic], dim=2)


def predict_logits(model: torch.nn.Module, batch: Batch | dict) -> torch.Tensor:
    """The model's logits [B, 1, H, W] for a batch on its device: the one way any code calls a model."""
    return model(batch["fire"], batch["dynamic"], batch["static"], batch["wind"], batch["time_mask"])


def build_model(model_cfg, inputs: InputSpec) -> torch.nn.Module:
    """The `model=` config built for a data family's inputs: the one place where what comes from the
    data (channels, features) meets the model's own settings."""
    from emberformer import config as config_lib

    return config_lib.build(model_cfg, _partial_=True)(inputs=inputs)
