"""Procedural landscapes for the simulated dataset: terrain, Scott & Burgan fuels, fire breaks.

Numpy only. Arrays are north-up (row 0 is the NORTH edge, as in an image or a GeoTIFF);
the simulator wrapper flips them for pyretechnics, whose row 0 is the south edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Scott & Burgan (2005) fuel-model numbers, grouped from open to closed vegetation. The
# vegetation index (low ground + noise -> grass, high ground -> timber) picks a group, a
# second noise field picks the model inside the group, which makes plausible patch mosaics.
FUEL_GROUPS: tuple[tuple[tuple[int, ...], float], ...] = (
    # (fuel-model numbers, share of the vegetated area)
    ((101, 102, 104), 0.30),  # grass: GR1 GR2 GR4
    ((121, 122), 0.15),       # grass-shrub: GS1 GS2
    ((142, 145), 0.17),       # shrub: SH2 SH5
    ((161, 165), 0.18),       # timber-understory: TU1 TU5
    ((183, 188), 0.20),       # timber litter: TL3 TL8
)
# Non-burnable fuel-model numbers (Scott & Burgan NB classes).
NB_URBAN, NB_WATER, NB_BARREN = 91, 98, 99
NONBURNABLE_CODES = (NB_URBAN, 92, 93, NB_WATER, NB_BARREN)

# The hard preset's fuels: more models per group and smaller patches (see make_landscape).
HETEROGENEOUS_FUEL_GROUPS: tuple[tuple[tuple[int, ...], float], ...] = (
    ((101, 102, 104, 107), 0.28),  # grass: GR1 GR2 GR4 GR7
    ((121, 122, 123), 0.14),       # grass-shrub: GS1 GS2 GS3
    ((142, 145, 147), 0.18),       # shrub: SH2 SH5 SH7
    ((161, 162, 165), 0.18),       # timber-understory: TU1 TU2 TU5
    ((183, 185, 188), 0.22),       # timber litter: TL3 TL5 TL8
)
# Canopy of each fuel family (first digits of the fuel-model number), consistent with the
# surface fuel: (cover 0-1, height m, base height m, bulk density kg/m3), each a (low, high) range
# spread over the family's cells by a smooth random field. Grass and non-burnable cells have none.
CANOPY_BY_FAMILY: dict[int, tuple[tuple[float, float], ...]] = {
    14: ((0.05, 0.30), (3.0, 8.0), (0.5, 2.0), (0.03, 0.10)),    # shrub: scattered trees
    16: ((0.40, 0.80), (10.0, 25.0), (0.5, 3.0), (0.08, 0.25)),  # timber-understory: ladder fuels
    18: ((0.50, 0.90), (15.0, 35.0), (2.0, 8.0), (0.05, 0.20)),  # timber litter: high crowns
}


@dataclass(frozen=True)
class Landscape:
    """A north-up raster landscape on a square grid of `cell_size` metres."""

    elevation: np.ndarray   # [H, W] float32, metres
    slope: np.ndarray       # [H, W] float32, rise/run
    aspect: np.ndarray      # [H, W] float32, degrees clockwise from north the slope faces; NaN where flat
    fuel_model: np.ndarray  # [H, W] int16, Scott & Burgan / Anderson fuel-model numbers
    cell_size: float = 30.0
    # [4, H, W] float32 canopy cover (0-1), height (m), base height (m), bulk density (kg/m3);
    # None = no canopy (surface fire only).
    canopy: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.elevation.shape

    @property
    def nonburnable(self) -> np.ndarray:
        return np.isin(self.fuel_model, NONBURNABLE_CODES)

    def crop(self, y0: int, y1: int, x0: int, x1: int) -> Landscape:
        return Landscape(self.elevation[y0:y1, x0:x1], self.slope[y0:y1, x0:x1],
                         self.aspect[y0:y1, x0:x1], self.fuel_model[y0:y1, x0:x1], self.cell_size,
                         None if self.canopy is None else self.canopy[:, y0:y1, x0:x1])


def fractal_field(rng: np.random.Generator, shape: tuple[int, int], beta: float) -> np.ndarray:
    """Gaussian random field with power spectrum ~ 1/f^beta (spectral synthesis), zero mean, unit std.

    beta ~ 3 gives Brownian-like terrain; larger beta gives smoother, larger patches.
    """
    h, w = shape
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.rfftfreq(w)[None, :]
    k = np.hypot(ky, kx)
    k[0, 0] = np.inf  # drop the mean
    spectrum = (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape)) * k ** (-beta / 2)
    field = np.fft.irfft2(spectrum, s=shape)
    return (field - field.mean()) / field.std()


def slope_aspect(elevation: np.ndarray, cell_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Slope (rise/run) and aspect (azimuth the downslope direction faces; NaN where flat)."""
    dz_drow, dz_dx = np.gradient(elevation.astype(np.float64), cell_size)
    dz_dnorth = -dz_drow  # rows run north -> south
    slope = np.hypot(dz_dx, dz_dnorth)
    aspect = np.degrees(np.arctan2(-dz_dx, -dz_dnorth)) % 360.0
    aspect[slope < 1e-6] = np.nan
    return slope.astype(np.float32), aspect.astype(np.float32)


def quantise(values: np.ndarray, step: float) -> np.ndarray:
    return (np.round(values / step) * step).astype(np.float32)


def _quantile_rank(field: np.ndarray) -> np.ndarray:
    """Each cell's rank in [0, 1): thresholds on it become area shares."""
    ranks = np.empty(field.size)
    ranks[np.argsort(field, axis=None, kind="stable")] = np.arange(field.size) / field.size
    return ranks.reshape(field.shape)


def _draw_road(rng: np.random.Generator, shape: tuple[int, int], width: int) -> np.ndarray:
    """A gently winding road crossing the grid from one edge, `width` cells wide."""
    h, w = shape
    mask = np.zeros(shape, dtype=bool)
    edge = rng.integers(4)
    pos = np.array([(0.0, rng.uniform(0, w)), (h - 1.0, rng.uniform(0, w)),
                    (rng.uniform(0, h), 0.0), (rng.uniform(0, h), w - 1.0)][edge])
    heading = np.radians([90.0, -90.0, 0.0, 180.0][edge] + rng.uniform(-35, 35))  # into the grid
    for _ in range(4 * (h + w)):
        heading += np.radians(rng.normal(0.0, 3.0))
        pos += (np.sin(heading) * 0.5, np.cos(heading) * 0.5)  # half-cell steps leave no gaps
        r, c = int(pos[0]), int(pos[1])
        if not (0 <= r < h and 0 <= c < w):
            break
        mask[max(r - width // 2, 0):r + (width + 1) // 2, max(c - width // 2, 0):c + (width + 1) // 2] = True
    return mask


def make_landscape(rng: np.random.Generator, size: int, cell_size: float = 30.0,
                   heterogeneous: bool = False) -> Landscape:
    """A plausible size x size landscape: fractal hills, lakes in the lowest ground, bare rock on
    the highest, fuel patches that follow elevation, and a few roads.

    heterogeneous=True (hard preset) draws from HETEROGENEOUS_FUEL_GROUPS in smaller, rougher
    patches; it consumes the same random numbers, so the terrain is the same as without it."""
    shape = (size, size)
    terrain = fractal_field(rng, shape, beta=3.8)
    # Scale the relief to a drawn median slope, so that steepness doesn't depend on the grid size.
    median_slope = rng.uniform(0.08, 0.22)
    elevation = terrain * median_slope / np.median(slope_aspect(terrain, cell_size)[0])
    elevation += rng.uniform(200.0, 1200.0) - elevation.min()

    # Lakes: the lowest few percent of the ground, with a flat surface.
    lake_level = np.quantile(elevation, rng.uniform(0.01, 0.04))
    water = elevation <= lake_level
    elevation = np.where(water, lake_level, elevation)
    rock = elevation >= np.quantile(elevation, 1.0 - rng.uniform(0.005, 0.02))
    # Power-of-two steps zero the low mantissa bits of the float32 GeoTIFF, which then deflates
    # to a fraction of its size; 1/8 m and 1/1024 are far finer than 30 m cells need.
    elevation = quantise(elevation, 1 / 8)
    slope, aspect = slope_aspect(elevation, cell_size)
    slope = quantise(slope, 1 / 1024)

    vegetation = _quantile_rank(0.55 * _quantile_rank(elevation) + 0.45 * _quantile_rank(
        fractal_field(rng, shape, beta=3.6)))
    within_group = _quantile_rank(fractal_field(rng, shape, beta=2.4 if heterogeneous else 3.6))
    fuel = np.empty(shape, dtype=np.int16)
    lower = 0.0
    for models, share in HETEROGENEOUS_FUEL_GROUPS if heterogeneous else FUEL_GROUPS:
        in_group = (vegetation >= lower) & (vegetation < lower + share + 1e-9)
        choice = np.minimum((within_group * len(models)).astype(int), len(models) - 1)
        fuel[in_group] = np.asarray(models, dtype=np.int16)[choice[in_group]]
        lower += share

    roads = np.zeros(shape, dtype=bool)
    for _ in range(rng.integers(1, 4)):
        roads |= _draw_road(rng, shape, width=2)
    fuel[rock] = NB_BARREN
    fuel[roads] = NB_URBAN
    fuel[water] = NB_WATER
    return Landscape(elevation.astype(np.float32), slope, aspect, fuel, cell_size)


def add_canopy(rng: np.random.Generator, land: Landscape) -> Landscape:
    """`land` with canopy layers (Landscape.canopy) drawn per fuel family from CANOPY_BY_FAMILY:
    closed, tall stands on timber, scattered low trees on shrub, none on grass and non-burnable
    cells. Denser stands (one smooth field) are also taller with more bulk density; base height
    varies on its own. Quantised so that the values written are exactly the ones simulated."""
    shape = land.shape
    density = _quantile_rank(fractal_field(rng, shape, beta=3.2))
    base = _quantile_rank(fractal_field(rng, shape, beta=3.2))
    canopy = np.zeros((4, *shape), dtype=np.float32)
    family = land.fuel_model // 10
    for fam, ranges in CANOPY_BY_FAMILY.items():
        cells = (family == fam) & ~land.nonburnable
        for band, ((low, high), driver) in enumerate(zip(ranges, (density, density, 1.0 - base, density))):
            canopy[band][cells] = low + (high - low) * driver[cells]
    steps = (1 / 256, 1 / 8, 1 / 8, 1 / 1024)
    return Landscape(land.elevation, land.slope, land.aspect, land.fuel_model, land.cell_size,
                     np.stack([quantise(c, s) for c, s in zip(canopy, steps)]))
