"""Next-step samples with an expanding history, read from the cache.

From a sequence of n frames, every t in 0..n-2 gives one sample: fire frames 0..t (the most
recent `max_history` of them) and the wind at those steps predict the isochrone at t + 1.
`emberformer/data/collate.py` pads samples into batches.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from emberformer.contract import newly_burned
from emberformer.data.organized_spreads.cache import SpreadsCache
from emberformer.data.organized_spreads.features import WindStats, encode_wind


class FireSpreadDataset(Dataset):
    """Next-step samples of the given cached sequences (positions into `cache.sequences`).

    Items are compact numpy arrays: fire history and target as bits packed along W (uint8), the
    crop window instead of the static bands (they are cropped from the landscape on the device).
    `collate_spreads` pads them into a batch; `DeviceBatches` (collate.py) makes the model's inputs.
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

    def newly_burned(self, index: int) -> int:
        """Pixels of the sample's target that were not burning in its last observed frame."""
        pos, _, t = self.locate(index)
        last, target = self.cache.fire(pos, t, t + 1)[0], self.cache.isochrones(pos, t + 1, t + 2)[0]
        return int(newly_burned(target, last).sum())

    def wind(self, position: int) -> np.ndarray:
        return self._wind[position]

    def __getitem__(self, index: int) -> dict:
        pos, start, t = self.locate(index)
        seq = self.cache.sequences[pos]
        return {
            "fire": self.cache.packed("fire", pos, start, t + 1),
            "target": self.cache.packed("isochrones", pos, t + 1, t + 2)[0],
            "wind": self._wind[pos][start:t + 1],
            "window": seq.window,
            "seq_id": seq.seq_id,
            "t": t,
        }
