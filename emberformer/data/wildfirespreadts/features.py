"""WildfireSpreadTS bands -> model features, on the device (the batch contract, emberformer/contract.py).

What each kind of band becomes (bands.py):
- value: standardised with the fold's statistics (its training years only), NaN -> 0 (the mean);
- compass (wind direction, aspect; degrees clockwise from north): sin and cos;
- axis (the release's forecast wind direction, atan(v/u): -90..90 degrees from east, its quadrant
  lost): sin 2θ and cos 2θ, which name the axis without claiming a direction; data made with atan2
  (|θ| > 90 somewhere) get sin θ and cos θ;
- classes (land cover): one-hot over IGBP classes 1..17, zeros where missing or out of range;
- detections (active fire): the fire mask (hhmm > 0) is the batch's `fire` and, on the next day, its
  `target`; the detection hour is a dynamic feature, standardised over detections, 0 where none.
WSTS's own loader differs in places, on purpose: it keeps only sin of an angle, maps a missing land
cover to class 17, and its input mask drops 00:00-00:59 UTC detections (hour 0); README says more.

Training augmentation (WSTS's): random horizontal/vertical flips and quarter turns of the crop (drawn
by the dataset, made here), with the angles turned accordingly, so a flipped fire still sees the wind
blow the right way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from emberformer.data.wildfirespreadts.bands import ACTIVE_FIRE, BANDS, LAND_COVER_CLASSES, Band
from emberformer.data.wildfirespreadts.cache import detection_hours


@dataclass(frozen=True)
class Stats:
    mean: float
    std: float

    @classmethod
    def from_sums(cls, sums: np.ndarray) -> Stats:
        """From summed (count, sum, sum of squares); std 1 where a band is constant or absent."""
        count, total, squares = (float(v) for v in sums)
        if count == 0:
            return cls(0.0, 1.0)
        mean = total / count
        std = math.sqrt(max(squares / count - mean * mean, 0.0))
        return cls(mean, std if std > 1e-6 else 1.0)


def feature_names(band: Band, axis_as_angle: bool) -> tuple[str, ...]:
    """The feature channels a band becomes, by name."""
    if band.kind == "compass" or (band.kind == "axis" and axis_as_angle):
        return (f"{band.name}_sin", f"{band.name}_cos")
    if band.kind == "axis":
        return (f"{band.name}_axis_sin2", f"{band.name}_axis_cos2")
    if band.kind == "classes":
        return tuple(f"{band.name}_{k}" for k in range(1, LAND_COVER_CLASSES + 1))
    if band.kind == "detections":
        return ("active_fire_hour",)
    return (band.name,)


def _turned(degrees: torch.Tensor, band: Band, aug: torch.Tensor) -> torch.Tensor:
    """Angles [B, ...] of `band` after each sample's flips and quarter turns (aug [B, 3]: hflip, vflip, k).
    Compass bearings (clockwise from north): a left-right mirror gives 360 - θ, an up-down mirror
    180 - θ, k counter-clockwise quarter turns θ - 90k. Math angles (counter-clockwise from east):
    180 - φ, -φ and φ + 90k."""
    shape = (-1,) + (1,) * (degrees.dim() - 1)
    hflip, vflip, turns = (aug[:, i].to(degrees.dtype).view(shape) for i in range(3))
    if band.kind == "compass":
        degrees = torch.where(hflip > 0, 360 - degrees, degrees)
        degrees = torch.where(vflip > 0, 180 - degrees, degrees)
        return degrees - 90 * turns
    degrees = torch.where(hflip > 0, 180 - degrees, degrees)
    degrees = torch.where(vflip > 0, -degrees, degrees)
    return degrees + 90 * turns


def decode(entry: dict, device: torch.device) -> torch.Tensor:
    """A band of a batch (dataset.band_batch) as float32 values on `device`: palette lookups, or codes
    divided by each sample's scale with NaN at its NaN code (the cache's Codec.decode, on the device)."""
    codes = entry["codes"].to(device, non_blocking=device.type == "cuda")
    if "palette" in entry:
        return entry["palette"].to(device).gather(1, codes.flatten(1).long()).view(codes.shape)
    if "scale" not in entry:
        return codes
    per_sample = (-1,) + (1,) * (codes.dim() - 1)
    values = codes.to(torch.float32) / entry["scale"].to(device).view(per_sample)
    return values.masked_fill_(codes == entry["nan_code"].to(device).view(per_sample), torch.nan)


def _geometry(x: torch.Tensor, aug: torch.Tensor) -> torch.Tensor:
    """Each sample's flips, then counter-clockwise quarter turns, on the last two dims of x [B, ...]."""
    out = []
    for sample, (hflip, vflip, turns) in zip(x, aug.tolist(), strict=True):
        if hflip:
            sample = sample.flip(-1)
        if vflip:
            sample = sample.flip(-2)
        out.append(torch.rot90(sample, turns, dims=(-2, -1)) if turns else sample)
    return torch.stack(out)


class WstsFeatures:
    """Compact WSTS batches (dataset.py) -> a contract.Batch on `device`, with the fold's statistics."""

    def __init__(self, dynamic: tuple[Band, ...], static: tuple[Band, ...], stats: dict[int, Stats],
                 axis_as_angle: bool, device: str | torch.device):
        self.dynamic, self.static, self.stats = dynamic, static, stats
        self.axis_as_angle = axis_as_angle
        self.device = torch.device(device)

    def names(self, bands: tuple[Band, ...]) -> tuple[str, ...]:
        return tuple(n for b in bands for n in feature_names(b, self.axis_as_angle))

    def _encode(self, values: torch.Tensor, band: Band, aug: torch.Tensor | None, out: torch.Tensor) -> None:
        """Raw values [..., H, W] of one band -> its feature channels, written into `out` [..., channels, H, W]."""
        if band.kind in ("compass", "axis"):
            degrees = values if aug is None else _turned(values, band, aug)
            radians = torch.deg2rad(degrees * (1 if band.kind == "compass" or self.axis_as_angle else 2))
            torch.sin(radians, out=out[..., 0, :, :])
            torch.cos(radians, out=out[..., 1, :, :])
        elif band.kind == "classes":
            classes = torch.nan_to_num(values, nan=0.0)
            for k in range(LAND_COVER_CLASSES):
                out[..., k, :, :] = classes == k + 1
        else:
            if band.index == ACTIVE_FIRE:
                values = torch.where(values > 0, detection_hours(values), torch.nan)
            stats = self.stats[band.index]
            torch.sub(values, stats.mean, out=out[..., 0, :, :]).div_(stats.std)
        out.nan_to_num_(nan=0.0)

    def _encoded(self, raw: torch.Tensor, bands: tuple[Band, ...], aug, extra: int = 0) -> torch.Tensor:
        """Every band of `raw` [..., bands, H, W] encoded into one tensor [..., features (+ extra), H, W]."""
        widths = [len(feature_names(b, self.axis_as_angle)) for b in bands]
        out = raw.new_empty((*raw.shape[:-3], sum(widths) + extra, *raw.shape[-2:]))
        start = 0
        for i, (band, width) in enumerate(zip(bands, widths, strict=True)):
            self._encode(raw[..., i, :, :], band, aug, out[..., start:start + width, :, :])
            start += width
        return out

    def __call__(self, batch: dict) -> dict:
        to = dict(device=self.device, non_blocking=self.device.type == "cuda")
        fire_time = batch["fire_time"].to(**to)        # [B, T + 1, H, W] hhmm, NaN: none
        bands = [decode(entry, self.device) for entry in batch["bands"]]
        dynamic = torch.stack(bands[:len(self.dynamic)], dim=2) if self.dynamic else \
            fire_time.new_zeros((len(fire_time), fire_time.shape[1] - 1, 0, *fire_time.shape[-2:]))
        static = torch.stack([b[:, 0] for b in bands[len(self.dynamic):]], dim=1) if self.static else \
            fire_time.new_zeros((len(fire_time), 0, *fire_time.shape[-2:]))
        pixel_mask = batch["pixel_mask"].to(**to)      # [B, 1, H, W]
        aug = batch["aug"] if bool(batch["aug"].any()) else None
        if aug is not None:  # the pixels, then (in _encode) the angles they hold
            if fire_time.shape[-2] != fire_time.shape[-1]:  # a quarter turn would change the batch's shape
                aug = torch.cat([aug[:, :2], aug[:, 2:] // 2 * 2], dim=1)
            fire_time, dynamic, static, pixel_mask = (_geometry(x, aug)
                                                      for x in (fire_time, dynamic, static, pixel_mask))
            aug = aug.to(self.device)
        detected = (fire_time > 0).to(torch.float32)  # NaN > 0 is False: no detection
        steps = dynamic.shape[1]
        dynamic_features = self._encoded(dynamic, self.dynamic, aug, extra=1)  # the detection hour last
        self._encode(fire_time[:, :steps], BANDS[ACTIVE_FIRE], None, dynamic_features[:, :, -1:])
        return {
            "fire": detected[:, :steps] * pixel_mask,
            "target": detected[:, steps:] * pixel_mask,
            "dynamic": dynamic_features,
            "static": self._encoded(static, self.static, aug),
            "wind": fire_time.new_zeros(len(fire_time), steps, 0),
            "time_mask": torch.ones(len(fire_time), steps, dtype=torch.bool, device=self.device),
            "pixel_mask": pixel_mask.bool(),
            **{k: batch[k] for k in ("seq_id", "t", "length")},
        }
