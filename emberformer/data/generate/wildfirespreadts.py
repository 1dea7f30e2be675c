"""A synthetic stand-in for the WildfireSpreadTS release, written as the release is (no simulator):

    python -m emberformer.data.generate.wildfirespreadts out=DIR [hdf5=DIR] [years=[2018,2019,2020,2021]]
        [fires_per_year=2] [min_days=6] [max_days=10] [size=200] [seed=1] [overwrite=false]

`out` gets `<year>/fire_<id>/<YYYY-MM-DD>.tif` files like the release's (bands.py: 23 float32 bands
with the release's descriptions, EPSG:32610, 375 m, LZW); `hdf5`, when given, the same fires as WSTS's
CreateHDF5Dataset.py writes them. What makes it look like the real data, for the reader to prove
itself on: non-square grids of a few hundred pixels; the active fire band as hhmm detection times with
NaN where none, the detections a moving front of a growing fire (and, in each fire's fourth day, none
at all: a cloudy day); NaN gaps in the VIIRS and vegetation products; GRIDMET weather in 4 km blocks
and GFS forecasts in 0.25 degree blocks; wind direction and aspect in compass degrees; the forecast
wind direction as the release's atan (-90..90); land cover classes 1..17; reflectances that are
integers or halves (medians), temperatures that are not. The fires' dynamics are invented: this is a
format fixture, not a benchmark.
"""

from __future__ import annotations

import dataclasses
import datetime
import shutil
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from emberformer.cli import parse_arguments, run_command
from emberformer.data.wildfirespreadts.bands import N_BANDS
from emberformer.data.wildfirespreadts.layout import CRS, PIXEL_M, fire_name, write_day, write_fire_hdf5
from emberformer.errors import ConfigError, exit_on_user_error

CLOUDY_DAY = 3  # each fire's day (0-based) without any detection


@dataclasses.dataclass
class FixtureConfig:
    out: str
    hdf5: str | None = None
    years: list[int] = dataclasses.field(default_factory=lambda: [2018, 2019, 2020, 2021])
    fires_per_year: int = 2
    min_days: int = 6
    max_days: int = 10
    size: int = 200            # the grids are about size x (0.8-1.2) size pixels
    seed: int = 1
    overwrite: bool = False

    def validate(self) -> FixtureConfig:
        checks = [(self.fires_per_year >= 1, "fires_per_year", "use 1 or more"),
                  (CLOUDY_DAY + 2 <= self.min_days <= self.max_days, "min_days", f"use {CLOUDY_DAY + 2}..max_days"),
                  (self.size >= 32, "size", "use 32 or more pixels"),
                  (len(self.years) >= 1, "years", "give at least one year")]
        for ok, key, fix in checks:
            if not ok:
                raise ConfigError(f"{key}={getattr(self, key)} is invalid for the fixture: {fix}")
        return self


def blocks(rng: np.random.Generator, shape: tuple[int, int], block: int, low: float, high: float) -> np.ndarray:
    """A field constant over block x block pixels (a coarse product resampled to 375 m)."""
    coarse = rng.uniform(low, high, size=(shape[0] // block + 2, shape[1] // block + 2))
    return np.kron(coarse, np.ones((block, block)))[:shape[0], :shape[1]]


def smooth(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """A smooth random field in [0, 1] (a sum of a few random sinusoids)."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]] / scale
    field = sum(np.sin(rng.uniform(0.5, 2) * yy + rng.uniform(0, 6)) * np.cos(rng.uniform(0.5, 2) * xx
                + rng.uniform(0, 6)) for _ in range(4))
    return (field - field.min()) / (np.ptp(field) + 1e-9)


def fire_days(rng: np.random.Generator, cfg: FixtureConfig, shape: tuple[int, int]) -> np.ndarray:
    """[T, 23, H, W] float32: one synthetic fire, day by day."""
    height, width = shape
    n_days = int(rng.integers(cfg.min_days, cfg.max_days + 1))
    elevation = 300 + 2500 * smooth(rng, shape, 40)
    gy, gx = np.gradient(elevation, PIXEL_M)
    slope = np.degrees(np.arctan(np.hypot(gx, gy)))
    aspect = (np.degrees(np.arctan2(-gx, gy)) + 360.0) % 360.0
    land_cover = np.clip(np.round(1 + 16 * blocks(rng, shape, 9, 0, 1)), 1, 17)
    cy, cx = rng.uniform(0.35, 0.65) * height, rng.uniform(0.35, 0.65) * width
    yy, xx = np.mgrid[0:height, 0:width]
    angle = np.arctan2(yy - cy, xx - cx)
    lobes = 1 + 0.4 * np.cos(2 * angle + rng.uniform(0, 6))  # an irregular, elongated fire
    distance = np.hypot(yy - cy, xx - cx) / lobes
    days = np.empty((n_days, N_BANDS, height, width), dtype=np.float32)
    for t in range(n_days):
        radius = 2.0 + 3.5 * t
        reflectance = 1000 + 3000 * smooth(rng, shape, 25) - 800 * (distance < radius)
        m11, i2, i1 = (np.round(2 * reflectance * f) / 2 for f in (1.0, 0.8, 0.6))  # medians: halves
        ndvi = np.round(6000 * smooth(rng, shape, 30) - 2000 * (distance < radius))
        evi2 = np.round(0.7 * ndvi)
        cloud = smooth(rng, shape, 15) > 0.8  # a cloud gap in the VIIRS and vegetation products
        for band in (m11, i2, i1, ndvi, evi2):
            band[cloud] = np.nan
        front = (distance < radius) & (distance >= radius - 7.0)  # about half of it still burns tomorrow
        detections = np.where(front, rng.integers(1, 24, size=shape) * 100 + rng.integers(0, 60, size=shape), np.nan)
        if t == CLOUDY_DAY:
            detections[:] = np.nan
        days[t] = np.stack([
            m11, i2, i1, ndvi, evi2,
            blocks(rng, shape, 11, 0, 12),                   # precipitation, 4 km GRIDMET
            blocks(rng, shape, 11, 0.5, 9),                  # wind speed
            np.round(blocks(rng, shape, 11, 0, 360)),        # wind direction, compass degrees
            blocks(rng, shape, 11, 270, 295),                # minimum temperature, K
            blocks(rng, shape, 11, 290, 315),                # maximum temperature, K
            blocks(rng, shape, 11, 20, 90),                  # energy release component
            blocks(rng, shape, 11, 0.002, 0.012),            # specific humidity
            slope, aspect, elevation,
            np.full(shape, rng.uniform(-5, 3)),              # PDSI: one value per fire and day
            land_cover,
            blocks(rng, shape, 70, 0, 8),                    # forecast precipitation, 0.25 degrees GFS
            blocks(rng, shape, 70, 0.5, 10),                 # forecast wind speed
            blocks(rng, shape, 70, -89.9, 89.9),             # forecast wind direction: atan, an axis
            blocks(rng, shape, 70, 5, 35),                   # forecast temperature, degrees C
            blocks(rng, shape, 70, 0.002, 0.012),            # forecast specific humidity
            detections,
        ]).astype(np.float32)
    return days


def generate(cfg: FixtureConfig) -> Path:
    """Write the fixture (and its HDF5 conversion) and return `cfg.out`."""
    cfg.validate()
    out = Path(cfg.out).expanduser()
    targets = [out] + ([Path(cfg.hdf5).expanduser()] if cfg.hdf5 else [])
    for folder in targets:
        if folder.exists() and any(folder.iterdir()):
            if not cfg.overwrite:
                raise ConfigError(f"{folder} is not empty: pass overwrite=true or choose another folder")
            shutil.rmtree(folder)
    import rasterio.warp
    from affine import Affine

    rng = np.random.default_rng(cfg.seed)
    for year in cfg.years:
        for k in range(cfg.fires_per_year):
            fire_id = int(rng.integers(21_000_000, 26_000_000))
            height = int(cfg.size * rng.uniform(0.8, 1.2))
            width = int(cfg.size * rng.uniform(0.8, 1.2))
            days = fire_days(rng, cfg, (height, width))
            start = datetime.date(year, 6, 1) + datetime.timedelta(days=int(rng.integers(0, 90)))
            dates = [(start + datetime.timedelta(days=t)).isoformat() for t in range(len(days))]
            west, north = rng.uniform(3e5, 7e5), rng.uniform(3.8e6, 5.2e6)
            transform = Affine(PIXEL_M, 0, west, 0, -PIXEL_M, north)
            for date, day in zip(dates, days, strict=True):
                write_day(out / str(year) / fire_name(fire_id) / f"{date}.tif", day, transform)
            if cfg.hdf5:
                centre_x, centre_y = west + width * PIXEL_M / 2, north - height * PIXEL_M / 2
                (lng,), (lat,) = rasterio.warp.transform(CRS, "EPSG:4326", [centre_x], [centre_y])
                write_fire_hdf5(Path(cfg.hdf5).expanduser() / str(year) / f"{fire_name(fire_id)}.hdf5", days, dates,
                                year, fire_name(fire_id), (lng, lat))
    return out


def _command(argv: list[str]) -> None:
    args = parse_arguments(argv, FixtureConfig, example="out=/tmp/wsts fires_per_year=2")
    if OmegaConf.is_missing(args, "out"):
        raise ConfigError("the fixture needs out=DIR: the folder to write the fires into")
    cfg = FixtureConfig(**OmegaConf.to_container(args))
    generate(cfg)
    fires = len(cfg.years) * cfg.fires_per_year
    print(f"wrote {fires} synthetic WildfireSpreadTS fires to {cfg.out}" + (f" and {cfg.hdf5}" if cfg.hdf5 else ""))


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    run_command(_command, __doc__, argv)


if __name__ == "__main__":
    main()
