"""The WildfireSpreadTS release on disk, and writers of both its forms (for fixtures and tests).

As distributed (Zenodo 10.5281/zenodo.8006177):

```
<root>/<year>/fire_<GlobFire id>/<YYYY-MM-DD>.tif   one file per day: 23 float32 bands (bands.py), band
                                                    descriptions set, EPSG:32610, 375 m pixels, NaN
                                                    where a product has no data; band 23 (active fire)
                                                    holds the VIIRS detection time as hhmm, NaN if none
```

As WSTS's own `CreateHDF5Dataset.py` converts it:

```
<root>/<year>/fire_<id>.hdf5        dataset "data": float32 (T, 23, H, W), every day of the fire; the
                                    active fire band already NaN -> 0 and hhmm // 100 (hours);
                                    attributes on the dataset: year (int), fire_name (str),
                                    img_dates (the days, "YYYY-MM-DD"), lnglat (the grid's centre)
```
The HDF5 files carry no CRS or transform: the grid is rebuilt from `lnglat`, EPSG:32610 and 375 m.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from emberformer.data.wildfirespreadts.bands import ACTIVE_FIRE, BANDS

CRS = "EPSG:32610"
PIXEL_M = 375.0
FIRE_DIR_RE = re.compile(r"^fire_(\d+)$")
HDF5_RE = re.compile(r"^fire_(\d+)\.hdf5$")
DAY_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:_.*)?\.tif$")
YEAR_RE = re.compile(r"^\d{4}$")
HDF5_DATASET = "data"


def fire_name(fire_id: int) -> str:
    return f"fire_{fire_id}"


def write_day(path: Path, bands: np.ndarray, transform, crs: str = CRS) -> None:
    """One day as the release writes it: 23 float32 bands with their descriptions, LZW-compressed."""
    import rasterio

    path.parent.mkdir(parents=True, exist_ok=True)
    count, height, width = bands.shape
    with rasterio.open(path, "w", driver="GTiff", height=height, width=width, count=count, dtype="float32",
                       crs=crs, transform=transform, compress="lzw") as dst:
        dst.write(bands.astype(np.float32))
        for band in BANDS[:count]:
            dst.set_band_description(band.index + 1, band.description)


def write_fire_hdf5(path: Path, days: np.ndarray, dates: list[str], year: int, name: str,
                    lnglat: tuple[float, float]) -> None:
    """A fire as CreateHDF5Dataset writes it: all days in one uncompressed dataset, the active fire
    band converted to hours (NaN -> 0, hhmm // 100), the other bands as in the GeoTIFFs."""
    import h5py

    data = np.array(days, dtype=np.float32)
    fire = np.nan_to_num(data[:, ACTIVE_FIRE], nan=0.0)
    data[:, ACTIVE_FIRE] = np.floor_divide(fire, 100)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        dataset = f.create_dataset(HDF5_DATASET, data.shape, data=data)
        dataset.attrs["year"] = int(year)
        dataset.attrs["fire_name"] = name
        dataset.attrs["img_dates"] = list(dates)
        dataset.attrs["lnglat"] = np.asarray(lnglat, dtype=np.float64)
