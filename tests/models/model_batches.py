"""Small real batches (growing fires, left-padded histories) and tiny model configs."""

from __future__ import annotations

import torch

from emberformer.config import model_preset
from emberformer.contract import InputSpec, predict_logits

# The project's one tiny EmberFormer (conf/model/emberformer_tiny.yaml, what debug=fast trains):
# its SegFormer trains in seconds (the MiT-b1 default has 13.7M params). The test images are
# 32 px, hence patches of 8.
TINY = model_preset("emberformer_tiny")
TINY_SEGFORMER = TINY["spatial"]["segformer_config"]
TINY_TEMPORAL = {**{k: TINY[k] for k in ("d_model", "nhead", "num_layers", "dim_feedforward")}, "patch_size": 8}


def spec(channels: int = 3, wind: int = 3, dynamic: int = 0) -> InputSpec:
    """A data family's inputs: `channels` static bands, `wind` per-step scalars, `dynamic` per-step rasters."""
    return InputSpec(static_names=tuple(f"static_{i}" for i in range(channels)),
                     wind_names=tuple(f"wind_{i}" for i in range(wind)),
                     dynamic_names=tuple(f"dynamic_{i}" for i in range(dynamic)))


def make_batch(lengths, steps: int, height: int, width: int, channels: int = 3, seed: int = 0, wind: int = 3,
               dynamic: int = 0) -> dict:
    """A batch on the device (contract.Batch): sample i has `lengths[i]` real steps, left-padded with
    zeros to `steps`; fires are discs growing from a random ignition; the dynamic bands are noise."""
    gen = torch.Generator().manual_seed(seed)
    batch = len(lengths)
    ys = torch.arange(height, dtype=torch.float32)[:, None]
    xs = torch.arange(width, dtype=torch.float32)[None, :]
    fire = torch.zeros(batch, steps, height, width)
    target = torch.zeros(batch, 1, height, width)
    winds = torch.zeros(batch, steps, wind)
    rasters = torch.zeros(batch, steps, dynamic, height, width)
    time_mask = torch.zeros(batch, steps, dtype=torch.bool)
    for i, length in enumerate(lengths):
        cy, cx = (torch.rand(2, generator=gen) * torch.tensor([height, width])).tolist()
        dist = ((ys - cy) ** 2 + (xs - cx) ** 2).sqrt()
        radii = 1.5 + 1.5 * torch.arange(length + 1, dtype=torch.float32)
        frames = (dist[None] <= radii[:, None, None]).float()
        fire[i, steps - length :] = frames[:length]
        target[i, 0] = frames[length]
        winds[i, steps - length :] = torch.randn(length, wind, generator=gen)
        rasters[i, steps - length :] = torch.rand(length, dynamic, height, width, generator=gen)
        time_mask[i, steps - length :] = True
    return {
        "fire": fire,
        "dynamic": rasters,
        "static": torch.rand(batch, channels, height, width, generator=gen),
        "wind": winds,
        "time_mask": time_mask,
        "target": target,
    }


def run_model(model, batch):
    return predict_logits(model, batch)
