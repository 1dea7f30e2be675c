"""The batch contract, on both sides of the DataLoader.

`collate_spreads` (the DataLoader's `collate_fn`, in the workers) pads samples into a COMPACT
batch: masks stay bits packed along W, and the static bands stay behind as crop windows. The
CPU never fills a float history tensor: at 400x400 px and 20 frames that was ~205 MB per batch of
16, filled and copied between processes; packed, it is 6.4 MB.

| key | shape, dtype | what |
|---|---|---|
| fire | [B, T, H, ceil(W/8)] uint8 | fire history, bits packed along W, left-padded in time, zero-padded bottom/right |
| target | [B, 1, H, ceil(W/8)] uint8 | next step's burned area, packed the same way |
| wind | [B, T, WIND_FEATURES] float32 | encoded wind per step (emberformer/data/features.py) |
| time_mask | [B, T] bool | True at real (not padded) steps |
| window | [B, 4] long | each sample's crop window (y0, y1, x0, x1) into the landscape |
| seq_id, t, length | [B] long | sequence id, last observed step, history length |

`DeviceBatches` (one per run and device, it holds the landscape there) turns that into what
every model, loss and metric reads (the `Batch` of emberformer/contract.py), in one place at the
model's input:

| key | shape, dtype | what |
|---|---|---|
| fire, target | [B, T, H, W], [B, 1, H, W] float32 | the masks, unpacked on the device |
| static | [B, C, H, W] float32 | normalised landscape bands under each window, zero-padded |
| dynamic | [B, T, 0, H, W] float32 | no per-step rasters besides the fire in this layout |
| pixel_mask | [B, 1, H, W] bool | True at real (not padded) pixels |
| wind, time_mask | as above, on the device | |
| seq_id, t, length | as above, on the CPU | |
"""

from __future__ import annotations

import numpy as np
import torch

from emberformer.data.organized_spreads.features import WIND_FEATURES

DEVICE_KEYS = ("fire", "target", "wind", "time_mask")


def collate_spreads(samples: list[dict]) -> dict[str, torch.Tensor]:
    """Left-pad time, zero-pad space to the batch max (bottom/right), keep the masks packed."""
    lengths = np.array([s["fire"].shape[0] for s in samples])
    windows = np.array([s["window"] for s in samples], dtype=np.int64)
    b, t_max = len(samples), lengths.max()
    h_max = int((windows[:, 1] - windows[:, 0]).max())
    bytes_max = max(s["fire"].shape[2] for s in samples)

    # Filled with numpy, not torch: torch's multi-threaded fill/copy stalls badly when the cores are
    # busy (measured >20x slower in the main process of a loaded machine); np.zeros gets lazily
    # zeroed pages and the copies stay on one thread. A packed row's bits past its width are 0.
    fire = np.zeros((b, t_max, h_max, bytes_max), dtype=np.uint8)
    target = np.zeros((b, 1, h_max, bytes_max), dtype=np.uint8)
    wind = np.zeros((b, t_max, WIND_FEATURES), dtype=np.float32)
    for i, s in enumerate(samples):  # placing ragged arrays into the padded ones is the one per-sample step
        n, h, nbytes = s["fire"].shape
        fire[i, t_max - n:, :h, :nbytes] = s["fire"]
        target[i, 0, :h, :nbytes] = s["target"]
        wind[i, t_max - n:] = s["wind"]
    return {
        "fire": torch.from_numpy(fire),
        "target": torch.from_numpy(target),
        "wind": torch.from_numpy(wind),
        "time_mask": torch.from_numpy(np.arange(t_max) >= (t_max - lengths)[:, None]),
        "window": torch.from_numpy(windows),
        "seq_id": torch.tensor([s["seq_id"] for s in samples], dtype=torch.long),
        "t": torch.tensor([s["t"] for s in samples], dtype=torch.long),
        "length": torch.from_numpy(lengths.astype(np.int64)),
    }


def unpack_bits(packed: torch.Tensor, width: int) -> torch.Tensor:
    """uint8 [..., ceil(W/8)] (np.packbits order, most significant bit first) -> float32 [..., width]."""
    shifts = torch.arange(7, -1, -1, dtype=torch.uint8, device=packed.device)
    bits = (packed.unsqueeze(-1) >> shifts) & 1
    return bits.flatten(-2)[..., :width].float()


class DeviceBatches:
    """Compact batches -> the model's float inputs on `device` (see the module docstring).

    Holds the normalised landscape on the device, so a batch carries crop windows, not bands.
    """

    def __init__(self, landscape: np.ndarray, device: str | torch.device):
        self.device = torch.device(device)
        self.landscape = torch.from_numpy(np.ascontiguousarray(landscape, dtype=np.float32)).to(self.device)

    def __call__(self, batch: dict) -> dict:
        windows = batch["window"].tolist()
        heights = [y1 - y0 for y0, y1, _, _ in windows]
        widths = [x1 - x0 for _, _, x0, x1 in windows]
        h_max, w_max = batch["fire"].shape[2], max(widths)
        non_blocking = self.device.type == "cuda"
        out = {k: v.to(self.device, non_blocking=non_blocking) for k, v in batch.items() if k in DEVICE_KEYS}
        out["fire"] = unpack_bits(out["fire"], w_max)
        out["target"] = unpack_bits(out["target"], w_max)
        static = torch.zeros(len(windows), self.landscape.shape[0], h_max, w_max, device=self.device)
        for i, (y0, y1, x0, x1) in enumerate(windows):
            static[i, :, :y1 - y0, :x1 - x0] = self.landscape[:, y0:y1, x0:x1]
        out["static"] = static
        out["dynamic"] = static.new_zeros(len(windows), out["fire"].shape[1], 0, h_max, w_max)
        rows = torch.arange(h_max, device=self.device)[None, :, None] < torch.tensor(heights, device=self.device)[:, None, None]
        cols = torch.arange(w_max, device=self.device)[None, None, :] < torch.tensor(widths, device=self.device)[:, None, None]
        out["pixel_mask"] = (rows & cols)[:, None]
        out.update({k: batch[k] for k in ("seq_id", "t", "length")})
        return out
