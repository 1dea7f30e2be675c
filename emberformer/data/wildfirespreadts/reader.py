"""Reading a WildfireSpreadTS root (layout.py): find its form and fires, check them, read a fire.

`scan` looks at folder and file names and one header per fire (cheap); `read_fire` reads every day of
a fire (the cache calls it once per fire) and checks each file as it goes. Every malformed input is a
one-line `DataError` naming the file and the fix; a day missing inside a fire's run of days is a
warning that names the dates (the samples whose days span the gap are left out, nothing is joined).
"""

from __future__ import annotations

import datetime
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emberformer.data.wildfirespreadts.bands import ACTIVE_FIRE, N_BANDS
from emberformer.data.wildfirespreadts.layout import (
    CRS,
    DAY_RE,
    FIRE_DIR_RE,
    HDF5_DATASET,
    HDF5_RE,
    PIXEL_M,
    YEAR_RE,
)
from emberformer.errors import DataError

GEOTIFF, HDF5 = "geotiff", "hdf5"
LAYOUT_HINT = ("the release's <year>/fire_<id>/<YYYY-MM-DD>.tif, or the HDF5 files of WSTS's CreateHDF5Dataset "
               "(<year>/fire_<id>.hdf5)")


@dataclass(frozen=True)
class FireSource:
    """One fire's files; nothing decoded yet."""

    year: int
    fire_id: int
    form: str                          # GEOTIFF | HDF5
    dates: tuple[datetime.date, ...]   # its days, in order
    files: tuple[Path, ...]            # a GeoTIFF per day, or the one HDF5 file
    height: int
    width: int

    @property
    def name(self) -> str:
        return f"fire_{self.fire_id}"

    @property
    def path(self) -> Path:
        """What names the fire in messages: its folder (GeoTIFF) or file (HDF5)."""
        return self.files[0].parent if self.form == GEOTIFF else self.files[0]

    def missing_days(self) -> list[datetime.date]:
        """Calendar days inside the fire's run that have no file."""
        have = set(self.dates)
        span = (self.dates[-1] - self.dates[0]).days
        return [d for d in (self.dates[0] + datetime.timedelta(days=k) for k in range(span + 1)) if d not in have]


@dataclass(frozen=True)
class WstsIndex:
    root: Path
    form: str
    fires: tuple[FireSource, ...]

    def source_files(self) -> list[Path]:
        return [f for fire in self.fires for f in fire.files]


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _year_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and YEAR_RE.match(p.name))


def scan(root: str | Path) -> WstsIndex:
    """Find the form (GeoTIFF release or HDF5 conversion) and every fire under `root`, checking the
    names, each fire's first header (band count, size) and its dates."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: data root does not exist or is not a folder; point data.root at a "
                        f"WildfireSpreadTS copy: {LAYOUT_HINT}")
    years = _year_dirs(root)
    fire_dirs = {y: sorted(p for p in y.iterdir() if p.is_dir() and FIRE_DIR_RE.match(p.name)) for y in years}
    hdf5_files = {y: sorted(p for p in y.iterdir() if p.is_file() and HDF5_RE.match(p.name)) for y in years}
    if not years or not any(fire_dirs.values()) and not any(hdf5_files.values()):
        raise DataError(f"{root}: holds neither WildfireSpreadTS layout (no <year>/fire_<id>/ folders with "
                        f"GeoTIFFs, no <year>/fire_<id>.hdf5 files); point data.root at {LAYOUT_HINT}")
    form = GEOTIFF if any(fire_dirs.values()) else HDF5
    fires = []
    for year in years:
        found = fire_dirs[year] if form == GEOTIFF else hdf5_files[year]
        if not found:
            what = "fire_<id> folders" if form == GEOTIFF else "fire_<id>.hdf5 files"
            raise DataError(f"{year}: a year folder with no fires (no {what}); unpack that year's fires into it "
                            "or remove the folder")
        for path in found:
            fires.append(_geotiff_fire(int(year.name), path) if form == GEOTIFF else _hdf5_fire(int(year.name), path))
    for fire in fires:
        gaps = fire.missing_days()
        if gaps:
            shown = ", ".join(d.isoformat() for d in gaps[:5]) + (", ..." if len(gaps) > 5 else "")
            warnings.warn(f"{fire.path}: {len(gaps)} day(s) missing inside the fire ({shown}); samples whose "
                          "days span a missing day are left out", stacklevel=2)
    return WstsIndex(root, form, tuple(fires))


def _geotiff_fire(year: int, folder: Path) -> FireSource:
    days = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() != ".tif":
            continue
        match = DAY_RE.match(path.name)
        if match is None:
            raise DataError(f"{path}: not a day of the fire (expected <YYYY-MM-DD>.tif); rename or remove it")
        days.append((_date(match.group(1), path), path))
    if not days:
        raise DataError(f"{folder}: a fire folder without days (no <YYYY-MM-DD>.tif); add them or remove the folder")
    days.sort()
    height, width = _tif_header(days[0][1])
    fire_id = int(FIRE_DIR_RE.match(folder.name).group(1))
    return FireSource(year, fire_id, GEOTIFF, tuple(d for d, _ in days), tuple(p for _, p in days), height, width)


def _date(text: str, path: Path) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise DataError(f"{path}: {text!r} is not a date (YYYY-MM-DD); rename the file") from None


def _tif_header(path: Path) -> tuple[int, int]:
    """(height, width) of a day's GeoTIFF, checking that it opens and holds the 23 bands."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            count, shape = src.count, (src.height, src.width)
    except rasterio.errors.RasterioError as err:
        raise DataError(f"{path}: unreadable GeoTIFF ({_one_line(err)}); download or unpack it again") from None
    if count != N_BANDS:
        raise DataError(f"{path}: {count} bands, but a WildfireSpreadTS day has {N_BANDS}; replace the file "
                        "with the release's")
    return shape


def _hdf5_fire(year: int, path: Path) -> FireSource:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if HDF5_DATASET not in f:
                raise DataError(f"{path}: no {HDF5_DATASET!r} dataset; convert the fire again with "
                                "WSTS's CreateHDF5Dataset.py")
            data = f[HDF5_DATASET]
            shape = data.shape
            dates = [str(d.decode() if isinstance(d, bytes) else d).removesuffix(".tif")
                     for d in data.attrs.get("img_dates", [])]
    except OSError as err:
        raise DataError(f"{path}: unreadable HDF5 file ({_one_line(err)}); convert the fire again") from None
    if len(shape) != 4 or shape[1] != N_BANDS:
        raise DataError(f"{path}: {HDF5_DATASET!r} has shape {tuple(shape)}, expected (days, {N_BANDS}, H, W); "
                        "convert the fire again with WSTS's CreateHDF5Dataset.py")
    if len(dates) != shape[0]:
        raise DataError(f"{path}: {len(dates)} img_dates for {shape[0]} days; convert the fire again")
    fire_id = int(HDF5_RE.match(path.name).group(1))
    return FireSource(year, fire_id, HDF5, tuple(_date(d, path) for d in dates), (path,), shape[2], shape[3])


def read_fire(fire: FireSource) -> np.ndarray:
    """float32 [days, 23, H, W], the active fire band as hhmm with NaN where nothing was detected (the
    HDF5 form stores hours: it comes back as hour x 100, its minutes and its 00:xx detections lost
    in WSTS's conversion)."""
    if fire.form == HDF5:
        import h5py

        try:
            with h5py.File(fire.files[0], "r") as f:
                days = np.asarray(f[HDF5_DATASET][...], dtype=np.float32)
        except OSError as err:
            raise DataError(f"{fire.files[0]}: unreadable HDF5 file ({_one_line(err)}); convert the fire "
                            "again") from None
        hours = days[:, ACTIVE_FIRE]
        days[:, ACTIVE_FIRE] = np.where(hours > 0, hours * 100, np.nan)
        return days
    days = np.empty((len(fire.files), N_BANDS, fire.height, fire.width), dtype=np.float32)
    for t, path in enumerate(fire.files):
        days[t] = _read_tif(path, (fire.height, fire.width), fire.files[0])
    return days


def _read_tif(path: Path, shape: tuple[int, int], first: Path) -> np.ndarray:
    import rasterio

    try:
        with rasterio.open(path) as src:
            if src.count != N_BANDS:
                raise DataError(f"{path}: {src.count} bands, but a WildfireSpreadTS day has {N_BANDS}; replace "
                                "the file with the release's")
            if (src.height, src.width) != shape:
                raise DataError(f"{path}: {src.height}x{src.width} pixels, but {first.name} of the same fire has "
                                f"{shape[0]}x{shape[1]}; replace the file with the release's")
            return src.read(out_dtype="float32")
    except rasterio.errors.RasterioError as err:
        # rasterio's read error says "see previous exception"; the GDAL cause is the useful part.
        raise DataError(f"{path}: unreadable or truncated GeoTIFF ({_one_line(err.__cause__ or err)}); "
                        "download or unpack it again") from None


def georeference(fire: FireSource) -> tuple[str, tuple[float, ...]]:
    """(CRS, affine transform as 6 numbers) of the fire's grid: the GeoTIFFs' own, or for the HDF5 form
    rebuilt from `lnglat` (the grid's centre), EPSG:32610 and 375 m pixels."""
    if fire.form == GEOTIFF:
        import rasterio

        with rasterio.open(fire.files[0]) as src:
            return (src.crs.to_string() if src.crs else ""), tuple(src.transform)[:6]
    import h5py
    import rasterio.warp

    with h5py.File(fire.files[0], "r") as f:
        lng, lat = (float(v) for v in f[HDF5_DATASET].attrs["lnglat"])
    (x,), (y,) = rasterio.warp.transform("EPSG:4326", CRS, [lng], [lat])
    west, north = x - fire.width * PIXEL_M / 2, y + fire.height * PIXEL_M / 2
    return CRS, (PIXEL_M, 0.0, west, 0.0, -PIXEL_M, north)
