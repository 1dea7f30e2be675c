"""The `organized_spreads` folder layout (Cell2Fire-style): its names and constants, and the writer.

```
landscape/Input_Geotiff.tif        multi-band static landscape, nodata -9999, band descriptions = names
landscape/indices.json             {"<seq id>": [y0, y1, x0, x1]}  crop window, end-exclusive
landscape/WeatherHistory.csv       line i (1-based sequence id) names that sequence's weather file
landscape/Weathers/*.csv           one row per time step; columns WS (km/h) and WD (deg, wind FROM)
fire_frames/sequence_NNN/*.png     fire state per step; green channel == 231 means fire
isochrones/sequence_NNN/*.png      target mask per step, same encoding
dataset.json                       optional: what wrote the folder and with which parameters
                                   (the generator writes it; README.md beside it is for people)
```
A fire frame and an isochrone at step t both hold the area burned by time t (cumulative).
The embedded dataset (`EMBEDDED_ROOT`, the default data) is written in this layout by
`write_organized_spreads`, so that it goes through the same reader (reader.py) as the research
group's data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

LANDSCAPE_DIR = "landscape"
GEOTIFF_NAME = "Input_Geotiff.tif"
INDICES_NAME = "indices.json"
WEATHER_HISTORY_NAME = "WeatherHistory.csv"
WEATHERS_DIR = "Weathers"
FRAMES_DIR = "fire_frames"
METADATA_NAME = "dataset.json"
ISOCHRONES_DIR = "isochrones"
# The simulated dataset shipped with the package (emberformer/data/generate writes it).
EMBEDDED_ROOT = Path(__file__).resolve().parent.parent / "embedded"
FIRE_GREEN = 231
NODATA = -9999.0
# RGB written for fire / background pixels; only the green channel carries meaning.
FIRE_RGB = (255, FIRE_GREEN, 0)
BACKGROUND_RGB = (255, 255, 255)


def sequence_dirname(seq_id: int) -> str:
    return f"sequence_{seq_id:03d}"


def encode_mask(mask: np.ndarray) -> Image.Image:
    """Binary [H, W] mask -> RGB image in the layout's encoding."""
    rgb = np.empty((*mask.shape, 3), dtype=np.uint8)
    rgb[...] = BACKGROUND_RGB
    rgb[mask.astype(bool)] = FIRE_RGB
    return Image.fromarray(rgb, mode="RGB")


@dataclass
class SequenceRecord:
    """One simulated or recorded fire, ready to be written."""

    seq_id: int
    window: tuple[int, int, int, int]  # y0, y1, x0, x1 into the landscape, end-exclusive
    fire_frames: np.ndarray  # [n, H, W] bool
    isochrones: np.ndarray  # [n, H, W] bool
    weather: dict[str, np.ndarray]  # at least "WS" and "WD", each >= n rows
    weather_name: str = ""  # file name under Weathers/; default Weather<seq_id>.csv
    extra: dict = field(default_factory=dict)


def write_landscape(root: Path, bands: np.ndarray, band_names: list[str]) -> Path:
    """Write the [C, H, W] float32 landscape as a deflate-compressed GeoTIFF."""
    import rasterio
    from affine import Affine

    path = Path(root) / LANDSCAPE_DIR / GEOTIFF_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    c, h, w = bands.shape
    profile = dict(
        driver="GTiff", height=h, width=w, count=c, dtype="float32", nodata=NODATA,
        compress="deflate", predictor=3, tiled=False,
        # A nominal 30 m grid (LANDFIRE-like); no CRS so that no PROJ database is needed.
        transform=Affine(30.0, 0.0, 0.0, 0.0, -30.0, 30.0 * h),  # north-up, origin at the top-left
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands.astype(np.float32))
        for i, name in enumerate(band_names, start=1):
            dst.set_band_description(i, name)
    return path


def write_organized_spreads(root: Path, landscape: np.ndarray, band_names: list[str],
                            sequences: list[SequenceRecord]) -> Path:
    """Write a complete organized_spreads folder. Sequence ids are 1-based."""
    root = Path(root)
    write_landscape(root, landscape, band_names)
    land = root / LANDSCAPE_DIR
    (land / WEATHERS_DIR).mkdir(parents=True, exist_ok=True)
    indices, history = {}, {}
    for rec in sequences:
        indices[str(rec.seq_id)] = [int(v) for v in rec.window]
        name = rec.weather_name or f"Weather{rec.seq_id}.csv"
        history[rec.seq_id] = name
        cols = list(rec.weather)
        rows = zip(*(np.asarray(rec.weather[c]) for c in cols))
        lines = [",".join(cols)] + [",".join(f"{v:.4g}" if isinstance(v, float | np.floating) else str(v)
                                             for v in row) for row in rows]
        (land / WEATHERS_DIR / name).write_text("\n".join(lines) + "\n")
        for sub, masks in ((FRAMES_DIR, rec.fire_frames), (ISOCHRONES_DIR, rec.isochrones)):
            folder = root / sub / sequence_dirname(rec.seq_id)
            folder.mkdir(parents=True, exist_ok=True)
            for t, mask in enumerate(masks):
                encode_mask(mask).save(folder / f"{sub.rstrip('s')}_{t:03d}.png", optimize=True)
    (land / INDICES_NAME).write_text(json.dumps(indices, indent=1) + "\n")
    ids = sorted(history)
    if ids != list(range(1, len(ids) + 1)):
        raise ValueError(f"sequence ids must be 1..N without gaps, got {ids[:5]}...")
    (land / WEATHER_HISTORY_NAME).write_text("".join(f"{WEATHERS_DIR}/{history[i]}\n" for i in ids))
    return root


def write_metadata(root: Path, record: dict) -> Path:
    """Record what wrote the folder (e.g. the generator's preset and parameters) in `dataset.json`:
    the machine-readable counterpart of its README, read back by `reader.read_metadata`."""
    path = Path(root) / METADATA_NAME
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path
