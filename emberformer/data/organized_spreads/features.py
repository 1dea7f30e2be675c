"""Model inputs from raw values: static bands normalised to [0, 1], wind as speed z-score and
direction sin/cos. Used by the cache (static bands, once per landscape) and the dataset (wind).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The per-step scalars `encode_wind` makes, by name (the batch's `wind`).
WIND_NAMES = ("wind_speed_z", "wind_from_sin", "wind_from_cos")
WIND_FEATURES = len(WIND_NAMES)


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
