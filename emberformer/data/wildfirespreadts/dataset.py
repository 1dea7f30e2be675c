"""WildfireSpreadTS samples: `leading_days` observed days of a fire predict the next day's active fire.

A sample is a fire and a target day j: days j - T .. j - 1 are observed, day j's active fire is the
target. All T + 1 days must be consecutive (a missing day inside them leaves the sample out), and
j >= `first_target` (WSTS's test adjustment: its test set starts at day 5 whatever T is, so T = 1..5
share one test set). Training samples are WSTS's crops: of 10 random windows of `crop` pixels, the one
with the most fire (detection hours of the observed days + 1000 x the target's fire), then random
flips and quarter turns (made on the device with the angles they turn, features.py). Other splits read whole images, cut
to a multiple of 32 about the centre as WSTS's test does (`multiple=32`), so AP counts the pixels
WSTS's counts. Items are raw band values (float32, NaN kept): the device makes the features.
"""

from __future__ import annotations

import datetime

import numpy as np
import torch
from torch.utils.data import Dataset

from emberformer.contract import newly_burned
from emberformer.data.wildfirespreadts.bands import ACTIVE_FIRE, Band
from emberformer.data.wildfirespreadts.cache import INTEGER_TYPES, WstsCache

CROP_TRIES = 10  # WSTS's number of candidate windows
TARGET_WEIGHT = 1000.0  # WSTS's weight of the target's fire in a window's score


def target_days(dates: tuple[str, ...], leading_days: int, first_target: int) -> list[int]:
    """The target day indices of a fire whose T + 1 days are consecutive."""
    days = [datetime.date.fromisoformat(d) for d in dates]
    return [j for j in range(max(leading_days, first_target), len(days))
            if (days[j] - days[j - leading_days]).days == leading_days]


def centre_window(height: int, width: int, multiple: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the centre cut to a multiple of `multiple` (the whole image when 1); the
    offsets round half to even, like torchvision's center_crop in WSTS."""
    new_h, new_w = max(height // multiple * multiple, min(height, multiple)), \
        max(width // multiple * multiple, min(width, multiple))
    top, left = int(round((height - new_h) / 2.0)), int(round((width - new_w) / 2.0))
    return top, top + new_h, left, left + new_w


class WstsDataset(Dataset):
    def __init__(self, cache: WstsCache, fires: list[int], leading_days: int, first_target: int,
                 dynamic: tuple[Band, ...], static: tuple[Band, ...], crop: int | None, multiple: int = 32):
        self.cache, self.leading_days = cache, leading_days
        self.dynamic, self.static = dynamic, static
        self.crop, self.multiple = crop, multiple
        self.samples = [(pos, j) for pos in fires
                        for j in target_days(cache.fires[pos].dates, leading_days, first_target)]

    def __len__(self) -> int:
        return len(self.samples)

    def window(self, pos: int, j: int) -> tuple[int, int, int, int]:
        """The sample's window: a training crop (drawn with torch's RNG, seeded per worker), else the centre."""
        fire = self.cache.fires[pos]
        if self.crop is None:
            return centre_window(fire.height, fire.width, self.multiple)
        size_h, size_w = min(self.crop, fire.height), min(self.crop, fire.width)
        # WSTS's score: the observed days' mean detection hour (0: none) + 1000 x the target's fire.
        target = self.cache.read(pos, ACTIVE_FIRE, slice(j, j + 1), slice(None), slice(None))[0] > 0
        score_map = (self.cache.summed_hours(pos, slice(j - self.leading_days, j)) / self.leading_days
                     + TARGET_WEIGHT * target)
        best, best_score = None, -np.inf
        for _ in range(CROP_TRIES):
            y0 = int(torch.randint(0, fire.height - size_h + 1, ()))
            x0 = int(torch.randint(0, fire.width - size_w + 1, ()))
            y1, x1 = y0 + size_h, x0 + size_w
            score = score_map[y0:y1, x0:x1].sum()
            if score > best_score:  # the first of equally good windows, as WSTS
                best, best_score = (y0, y1, x0, x1), score
        return best

    def __getitem__(self, index: int) -> dict:
        pos, j = self.samples[index]
        y0, y1, x0, x1 = window = self.window(pos, j)
        rows, cols, days = slice(y0, y1), slice(x0, x1), slice(j - self.leading_days, j)
        h, w = y1 - y0, x1 - x0
        aug = np.zeros(3, dtype=np.int64)  # flips and quarter turns, made on the device (features.py)
        if self.crop is not None:  # odd turns only where the crop is square
            aug[:2] = (torch.rand(2) > 0.5).numpy()
            aug[2] = int(torch.randint(0, 4, ())) if h == w else 2 * int(torch.randint(0, 2, ()))
        steps = self.leading_days
        bands = [self.cache.codes(pos, b.index, days, rows, cols) for b in self.dynamic]
        bands += [self.cache.codes(pos, b.index, slice(j - 1, j), rows, cols) for b in self.static]
        fire_time = self.cache.read(pos, ACTIVE_FIRE, slice(j - steps, j + 1), rows, cols)
        return {"bands": [(np.ascontiguousarray(codes), codec, palette) for codes, codec, palette in bands],
                "fire_time": fire_time, "aug": aug, "window": window, "seq_id": self.cache.fires[pos].fire_id,
                "t": j - 1, "steps": steps}

    def newly_burned(self, index: int) -> int:
        """Target fire pixels not burning on the last observed day (in the sample's centre window)."""
        pos, j = self.samples[index]
        y0, y1, x0, x1 = centre_window(self.cache.fires[pos].height, self.cache.fires[pos].width, self.multiple)
        times = self.cache.read(pos, ACTIVE_FIRE, slice(j - 1, j + 1), slice(y0, y1), slice(x0, x1))
        return int(newly_burned(times[1] > 0, times[0] > 0).sum())


def collate_wsts(samples: list[dict]) -> dict:
    """A compact batch: each band's codes as stored (their palette, or scale and NaN code, beside them),
    decoded on the device (features.py); the active fire decoded. Images are padded to the batch's
    largest (NaN for the active fire: no fire; pixel_mask False there)."""
    height = max(s["fire_time"].shape[-2] for s in samples)
    width = max(s["fire_time"].shape[-1] for s in samples)

    def pad(array: np.ndarray, fill) -> np.ndarray:
        if array.shape[-2:] == (height, width):
            return array
        padded = np.full((*array.shape[:-2], height, width), fill, dtype=array.dtype)
        padded[..., :array.shape[-2], :array.shape[-1]] = array
        return padded

    mask = np.zeros((len(samples), 1, height, width), dtype=np.float32)
    for i, s in enumerate(samples):
        mask[i, 0, :s["fire_time"].shape[-2], :s["fire_time"].shape[-1]] = 1
    return {
        "bands": [band_batch([s["bands"][k] for s in samples], pad) for k in range(len(samples[0]["bands"]))],
        "fire_time": torch.from_numpy(np.stack([pad(s["fire_time"], np.nan) for s in samples])),
        "pixel_mask": torch.from_numpy(mask),
        "aug": torch.from_numpy(np.stack([s["aug"] for s in samples])),
        "window": torch.tensor([s["window"] for s in samples], dtype=torch.long),
        "seq_id": torch.tensor([s["seq_id"] for s in samples], dtype=torch.long),
        "t": torch.tensor([s["t"] for s in samples], dtype=torch.long),
        "length": torch.full((len(samples),), samples[0]["steps"], dtype=torch.long),
    }


def band_batch(items: list, pad) -> dict:
    """One band of every sample of a batch, left as codes where the samples' codecs allow (each fire
    chose its own): palette indices with the palettes [B, P], or integer codes with each sample's scale
    and NaN code [B]; a float32 chunk, or palettes beside integers, are decoded here ({"codes": float32})."""
    codecs = [codec for _, codec, _ in items]
    if all(c.palette_size for c in codecs):
        wide = np.uint8 if all(c.dtype == "uint8" for c in codecs) else np.uint16
        palettes = np.full((len(items), max(c.palette_size for c in codecs)), np.nan, dtype=np.float32)
        for i, (_, codec, palette) in enumerate(items):
            palettes[i, :codec.palette_size] = palette
        return {"codes": torch.from_numpy(np.stack([pad(codes.astype(wide, copy=False), 0) for codes, _, _ in items])),
                "palette": torch.from_numpy(palettes)}
    if all(c.dtype in ("uint8", "int16") and not c.palette_size for c in codecs):
        wide = np.uint8 if all(c.dtype == "uint8" for c in codecs) else np.int16
        # A chunk without NaN never uses its type's NaN code either: comparing with it finds nothing.
        nan_codes = [next(code for dtype, _, _, code in INTEGER_TYPES if dtype == c.dtype) for c in codecs]
        return {"codes": torch.from_numpy(np.stack([pad(codes.astype(wide, copy=False), 0) for codes, _, _ in items])),
                "scale": torch.tensor([float(c.scale) for c in codecs]), "nan_code": torch.tensor(nan_codes)}
    values = [codec.decode(codes, palette) if codec.dtype != "empty" else np.full(codes.shape, np.nan, np.float32)
              for codes, codec, palette in items]
    return {"codes": torch.from_numpy(np.stack([pad(v, np.nan) for v in values]))}
