"""The batch contract: `collate_spreads` pads a list of samples into one batch.

Every model, loss and metric reads this dict (DataLoader's `collate_fn`):

| key | shape, dtype | what |
|---|---|---|
| fire | [B, T, H, W] float32 | fire history, left-padded in time, zero-padded bottom/right |
| static | [B, C, H, W] float32 | normalised landscape bands |
| wind | [B, T, WIND_FEATURES] float32 | encoded wind per step (emberformer/data/features.py) |
| time_mask | [B, T] bool | True at real (not padded) steps |
| target | [B, 1, H, W] float32 | next step's burned area |
| pixel_mask | [B, 1, H, W] bool | True at real (not padded) pixels |
| seq_id, t, length | [B] long | sequence id, last observed step, history length |
"""

from __future__ import annotations

import numpy as np
import torch

from emberformer.data.features import WIND_FEATURES


def collate_spreads(samples: list[dict]) -> dict[str, torch.Tensor]:
    """Left-pad time, zero-pad space to the batch max (bottom/right) and build both masks."""
    lengths = np.array([s["fire"].shape[0] for s in samples])
    heights = np.array([s["fire"].shape[1] for s in samples])
    widths = np.array([s["fire"].shape[2] for s in samples])
    b, t_max, h_max, w_max = len(samples), lengths.max(), heights.max(), widths.max()
    channels = samples[0]["static"].shape[0]

    # Filled with numpy, not torch: torch's multi-threaded fill/copy of these large tensors stalls
    # badly when the cores are busy (measured >20x slower in the main process of a loaded
    # machine), while np.zeros gets lazily zeroed pages and the copies stay on one thread.
    fire = np.zeros((b, t_max, h_max, w_max), dtype=np.float32)
    static = np.zeros((b, channels, h_max, w_max), dtype=np.float32)
    wind = np.zeros((b, t_max, WIND_FEATURES), dtype=np.float32)
    target = np.zeros((b, 1, h_max, w_max), dtype=np.float32)
    # Placement of ragged arrays into the padded arrays is the one per-sample step.
    for i, s in enumerate(samples):
        n, h, w = s["fire"].shape
        fire[i, t_max - n:, :h, :w] = s["fire"]
        static[i, :, :h, :w] = s["static"]
        wind[i, t_max - n:] = s["wind"]
        target[i, 0, :h, :w] = s["target"]

    time_mask = np.arange(t_max) >= (t_max - lengths)[:, None]
    pixel_mask = ((np.arange(h_max)[None, :, None] < heights[:, None, None])
                  & (np.arange(w_max)[None, None, :] < widths[:, None, None]))
    return {
        "fire": torch.from_numpy(fire),
        "static": torch.from_numpy(static),
        "wind": torch.from_numpy(wind),
        "time_mask": torch.from_numpy(time_mask),
        "target": torch.from_numpy(target),
        "pixel_mask": torch.from_numpy(pixel_mask[:, None]),
        "seq_id": torch.tensor([s["seq_id"] for s in samples], dtype=torch.long),
        "t": torch.tensor([s["t"] for s in samples], dtype=torch.long),
        "length": torch.from_numpy(lengths.astype(np.int64)),
    }
