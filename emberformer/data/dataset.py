"""Samples with an expanding history, feature encoding, and the collate that builds the batch contract.

From a sequence of n frames, every t in 0..n-2 gives one sample: fire frames 0..t (the most
recent `max_history` of them) and the wind at those steps predict the isochrone at t + 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset

if TYPE_CHECKING:
    from emberformer.data.cache import SpreadsCache

WIND_FEATURES = 3  # normalised speed, sin(direction), cos(direction)


def normalise_static(bands: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    """Per-band min-max to [0, 1] over valid pixels; binary {0, 1} bands unchanged; nodata -> 0.

    Returns the float32 [C, H, W] array and per-band stats (min, max, binary) for the record.
    """
    out = np.zeros(bands.shape, dtype=np.float32)
    stats = []
    for c in range(bands.shape[0]):  # a handful of bands; each step is vectorised over pixels
        values = bands[c][valid[c]]
        lo, hi = float(values.min()), float(values.max())
        binary = bool(np.all((values == 0) | (values == 1)))
        if binary:
            out[c][valid[c]] = values
        elif hi > lo:
            out[c][valid[c]] = (values - lo) / (hi - lo)
        # A constant non-binary band carries no information: it stays 0.
        stats.append({"min": lo, "max": hi, "binary": binary})
    return out, stats


@dataclass(frozen=True)
class WindStats:
    """Wind-speed normalisation, fitted on the train split."""

    speed_mean: float
    speed_std: float

    @classmethod
    def fit(cls, speeds: np.ndarray) -> WindStats:
        speeds = np.asarray(speeds, dtype=np.float64)
        std = float(speeds.std()) if speeds.size else 0.0
        # A constant wind speed would divide by zero; leave it centred but unscaled.
        return cls(float(speeds.mean()) if speeds.size else 0.0, std if std > 1e-6 else 1.0)


def encode_wind(weather: np.ndarray, stats: WindStats) -> np.ndarray:
    """Raw [n, 2] (WS, WD in degrees, wind FROM) -> float32 [n, 3] (speed z-score, sin, cos).

    sin/cos make 359 deg and 1 deg neighbours, which a raw angle does not.
    """
    weather = np.asarray(weather, dtype=np.float64)
    rad = np.deg2rad(weather[:, 1])
    speed = (weather[:, 0] - stats.speed_mean) / stats.speed_std
    return np.stack([speed, np.sin(rad), np.cos(rad)], axis=-1).astype(np.float32)


class FireSpreadDataset(Dataset):
    """Next-step samples of the given cached sequences (positions into `cache.sequences`).

    Items are numpy arrays (uint8 masks, so worker->main transfer stays small); `collate_spreads`
    pads them into the batch contract.
    """

    def __init__(self, cache: SpreadsCache, positions: list[int], max_history: int, wind_stats: WindStats):
        self.cache = cache
        self.positions = np.asarray(positions, dtype=np.int64)
        self.max_history = int(max_history)
        self.wind_stats = wind_stats
        lengths = np.array([cache.sequences[p].length for p in self.positions], dtype=np.int64)
        counts = lengths - 1
        # Flat sample index: sample k -> (position into self.positions, t), without a Python loop.
        self._sample_pos = np.repeat(np.arange(len(self.positions)), counts)
        starts = np.cumsum(counts) - counts
        self._sample_t = np.arange(int(counts.sum())) - np.repeat(starts, counts)
        # Encoded wind is tiny: keep it in memory rather than re-encoding per sample.
        self._wind = {int(p): encode_wind(cache.weather(int(p)), wind_stats) for p in self.positions}

    def __len__(self) -> int:
        return len(self._sample_t)

    def locate(self, index: int) -> tuple[int, int, int]:
        """Sample index -> (cache position, first history frame, last history frame t)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        pos = int(self.positions[self._sample_pos[index]])
        t = int(self._sample_t[index])
        return pos, max(0, t + 1 - self.max_history), t

    def wind(self, position: int) -> np.ndarray:
        return self._wind[position]

    def __getitem__(self, index: int) -> dict:
        pos, start, t = self.locate(index)
        return {
            "fire": self.cache.fire(pos, start, t + 1),
            "static": self.cache.static(pos),
            "wind": self._wind[pos][start:t + 1],
            "target": self.cache.isochrones(pos, t + 1, t + 2)[0],
            "seq_id": self.cache.sequences[pos].seq_id,
            "t": t,
        }


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
