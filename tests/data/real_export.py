"""A miniature of the research group's Cell2Fire `organized_spreads` export, written as the real one is.

Not a conftest: tests import `write_real_export` and compare what the reader decodes against the
truth it returns. It differs on purpose from the project's own writer (`write_organized_spreads`,
used by the `make_spreads` fixture) wherever the real export does:

- `landscape/WeatherHistory.csv` has no header; line i (1-based sequence id) is the absolute path
  of the weather file on the machine that ran the simulations, POSIX or Windows, CRLF endings. The
  files themselves are in `landscape/Weathers/`, and sequence i's file is not `Weather<i>.csv`.
- Weather CSVs have extra columns (`Instance,datetime,WS,WD,FireScenario`), CRLF endings, and at
  least as many rows as the sequence has frames.
- `fire_frames/sequence_0001/fire_000.png`, `isochrones/sequence_0001/iso_000.png`: 4-digit
  sequence ids, 3-digit frame numbers.
- Frames are RGBA PNGs saved by Matplotlib with the viridis map: background (68, 1, 84, 255),
  fire (253, 231, 36, 255). Fires are cumulative, start tiny and irregular (a few pixels, growth
  of ~100% a step early on) and keep unburned pockets inside the burned area. An isochrone holds
  the burned area of its step, in some sequences plus part of the next step's new pixels.
- `Input_Geotiff.tif` is not square, float32, nodata -9999 (an irregular no-data edge shared by
  every band plus scattered per-band holes), binary and continuous bands, and no band
  descriptions (the reader names them band_<i>).
- Most sequences are short (6 frames or fewer) with a long tail, and one has a single frame.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

NODATA = -9999.0
VIRIDIS_BACKGROUND = (68, 1, 84, 255)
VIRIDIS_FIRE = (253, 231, 36, 255)
# Sequence i (1-based) has LENGTHS[i - 1] frames: 6 of the 8 usable ones have <= 6, a long tail
# to 14, and sequence 4 has one frame (the reader skips it).
LENGTHS = (5, 2, 14, 1, 6, 3, 9, 4, 6)
LANDSCAPE_SHAPE = (78, 94)  # H, W: the real 1406x1173 GeoTIFF scaled down, still not square
CROP = (40, 40)
# Band name -> kind; the GeoTIFF carries no descriptions, so the reader sees band_1..band_5.
BANDS = {"elevation": "continuous", "slope": "continuous", "fuel_model": "codes",
         "non_burnable": "binary", "water": "binary"}
CRLF = "\r\n"


def _landscape(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """float32 [C, H, W] bands with -9999 where the returned [C, H, W] nodata mask is True."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    elevation = 650 + 420 * np.sin(yy / 11) * np.cos(xx / 17) + rng.normal(0, 8, shape)
    slope = np.degrees(np.arctan(np.hypot(*np.gradient(elevation)) / 30.0))
    fuel = rng.choice([91, 98, 101, 102, 122, 142, 161, 165, 183], size=shape).astype(np.float64)
    non_burnable = np.isin(fuel, (91, 98)).astype(np.float64)
    water = (fuel == 98).astype(np.float64)
    bands = np.stack([elevation, slope, fuel, non_burnable, water]).astype(np.float32)
    # The study area's irregular edge: a ragged top-right corner outside it, in every band.
    edge = xx - (w - 14) > yy + rng.integers(-2, 3, shape)
    nodata = np.repeat(edge[None], len(bands), axis=0)
    nodata |= rng.random(bands.shape) < 0.01  # scattered holes, band by band
    bands[nodata] = NODATA
    return bands, nodata


def _windows(rng: np.random.Generator, n: int, landscape: tuple[int, int], crop: tuple[int, int]) -> list:
    """Crop windows [y0, y1, x0, x1] (end-exclusive): the first touches the bottom-right edge, the
    second the top-right (no-data) corner, the third the origin; the rest anywhere."""
    (lh, lw), (h, w) = landscape, crop
    corners = [(lh - h, lw - w), (0, lw - w), (0, 0)]
    out = []
    for i in range(n):
        if i < len(corners):
            y0, x0 = corners[i]
        else:
            y0, x0 = int(rng.integers(0, lh - h + 1)), int(rng.integers(0, lw - w + 1))
        out.append((int(y0), int(y0 + h), int(x0), int(x0 + w)))
    return out


def _neighbours(mask: np.ndarray) -> np.ndarray:
    """8-connected dilation of a bool [H, W] mask, without wrapping at the border."""
    padded = np.pad(mask, 1)
    h, w = mask.shape
    out = np.zeros_like(mask)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            out |= padded[dy:dy + h, dx:dx + w]
    return out


def grow_fire(rng: np.random.Generator, n: int, shape: tuple[int, int]) -> np.ndarray:
    """bool [n, H, W]: a tiny, irregular, cumulative fire from an ignition near the centre.

    A stochastic cellular spread: each step a pixel next to the fire ignites with its own
    probability (patchy fuel). Unburnable pixels (rock, roads) stay out for good, and pixels that
    didn't catch yet stay unburned a while, so the burned area keeps pockets.
    """
    h, w = shape
    unburnable = rng.random(shape) < 0.1
    ignite_p = rng.uniform(0.15, 0.7, shape)
    cy, cx = int(rng.integers(h // 3, 2 * h // 3)), int(rng.integers(w // 3, 2 * w // 3))
    unburnable[cy, cx] = False
    burned = np.zeros(shape, dtype=bool)
    burned[cy, cx] = True

    def step(burned: np.ndarray) -> np.ndarray:
        front = _neighbours(burned) & ~burned & ~unburnable
        return burned | (front & (rng.random(shape) < ignite_p))

    while burned.sum() < 3:  # the first frame: a few pixels, like the real 55 of 160,000
        burned = step(burned)
    frames = [burned]
    for _ in range(n - 1):
        frames.append(step(frames[-1]))
    return np.stack(frames)


def _isochrones(rng: np.random.Generator, fire: np.ndarray, ahead: bool) -> np.ndarray:
    """The burned area at each step; with `ahead`, plus some of the next step's new pixels (a
    superset that is still cumulative: fire[t] <= iso[t] <= fire[t + 1] <= iso[t + 1])."""
    iso = fire.copy()
    if ahead:
        for t in range(len(fire) - 1):
            iso[t] |= fire[t + 1] & ~fire[t] & (rng.random(fire.shape[1:]) < 0.5)
    return iso


def _save_frames(folder: Path, prefix: str, masks: np.ndarray) -> None:
    import matplotlib.image

    folder.mkdir(parents=True, exist_ok=True)
    for t, mask in enumerate(masks):  # RGBA viridis, exactly as the export script saves them
        matplotlib.image.imsave(folder / f"{prefix}_{t:03d}.png", mask.astype(np.uint8), cmap="viridis",
                                vmin=0, vmax=1)


def _history_line(i: int, name: str) -> str:
    """The absolute path the simulation machine wrote: POSIX for odd ids, Windows for even ones."""
    if i % 2:
        return f"/home/jdoe/cell2fire/sims/Weathers/{name}"
    return f"C:\\Users\\jdoe\\Documents\\sims\\Weathers\\{name}"


def _weather_rows(rng: np.random.Generator, rows: int) -> np.ndarray:
    """float64 [rows, 2] (WS km/h with one decimal, WD whole degrees the wind comes from)."""
    ws = np.round(rng.uniform(2.0, 45.0, rows), 1)
    wd = rng.integers(0, 360, rows).astype(np.float64)
    return np.stack([ws, wd], axis=1)


def write_real_export(root: Path, *, seed: int = 0, lengths: tuple[int, ...] = LENGTHS,
                      landscape_shape: tuple[int, int] = LANDSCAPE_SHAPE, crop: tuple[int, int] = CROP) -> dict:
    """Write the export under `root` and return what was written:

    ```
    {"root": Path, "landscape": float32 [C, H, W] (NODATA where "nodata"), "nodata": bool [C, H, W],
     "band_kinds": [kind per band], "skipped": [single-frame ids], "usable": [ids with >= 2 frames],
     "sequences": {seq_id: {"fire": bool [n, h, w], "isochrones": bool [n, h, w],
                            "weather": float32 [rows >= n, 2] (WS, WD) as written,
                            "window": (y0, y1, x0, x1), "weather_file": Path, "history_line": str}}}
    ```
    """
    import rasterio
    from affine import Affine

    root = Path(root)
    rng = np.random.default_rng(seed)
    land = root / "landscape"
    (land / "Weathers").mkdir(parents=True, exist_ok=True)

    bands, nodata = _landscape(rng, landscape_shape)
    c, lh, lw = bands.shape
    profile = dict(driver="GTiff", height=lh, width=lw, count=c, dtype="float32", nodata=NODATA,
                   compress="deflate", predictor=3, tiled=False,
                   transform=Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4400000.0))
    with rasterio.open(land / "Input_Geotiff.tif", "w", **profile) as dst:
        dst.write(bands)  # no set_band_description: the real export leaves them empty

    windows = _windows(rng, len(lengths), landscape_shape, crop)
    # Sequence i uses Weather<k>.csv with k a permutation of 1..N: never its own id.
    numbers = list(range(1, len(lengths) + 1))
    while any(k == i for i, k in enumerate(numbers, start=1)):
        numbers = [int(k) for k in rng.permutation(np.arange(1, len(lengths) + 1))]
    sequences, history = {}, []
    for i, (n, window) in enumerate(zip(lengths, windows, strict=True), start=1):
        shape = (window[1] - window[0], window[3] - window[2])
        fire = grow_fire(rng, n, shape)
        iso = _isochrones(rng, fire, ahead=bool(i % 2))
        name = f"Weather{numbers[i - 1]}.csv"
        rows = n + (0 if i == 1 else int(rng.integers(1, 4)))  # exactly one row per frame, or more
        weather = _weather_rows(rng, rows)
        lines = ["Instance,datetime,WS,WD,FireScenario"]
        for r, (ws, wd) in enumerate(weather):
            lines.append(f"Weather{numbers[i - 1]},2019-01-{1 + r // 24:02d} {r % 24:02d}:00,{ws:.1f},{wd:.0f},2")
        (land / "Weathers" / name).write_bytes((CRLF.join(lines) + CRLF).encode())
        history.append(_history_line(i, name))
        _save_frames(root / "fire_frames" / f"sequence_{i:04d}", "fire", fire)
        _save_frames(root / "isochrones" / f"sequence_{i:04d}", "iso", iso)
        sequences[i] = {"fire": fire, "isochrones": iso, "weather": weather.astype(np.float32),
                        "window": window, "weather_file": land / "Weathers" / name, "history_line": history[-1]}

    (land / "WeatherHistory.csv").write_bytes((CRLF.join(history) + CRLF).encode())
    (land / "indices.json").write_text(json.dumps({str(i): list(s["window"]) for i, s in sequences.items()}))
    return {"root": root, "landscape": bands, "nodata": nodata, "band_kinds": list(BANDS.values()),
            "skipped": [i for i, n in enumerate(lengths, 1) if n < 2],
            "usable": [i for i, n in enumerate(lengths, 1) if n >= 2], "sequences": sequences}
