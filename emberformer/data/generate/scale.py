"""Write a scale fixture: a dataset shaped like the research group's Cell2Fire export, no simulator.

    python -m emberformer.data.generate.scale out=DIR [fraction=1.0] [seed=0] [overwrite=false]
        [workers=2] [size=400]

For measuring speed and memory at the real data's scale, not for science: the fires are cheap
synthetic shapes (a noisy egg around the ignition point whose radius grows every step), not
simulated spread. What matches the real export:

- about 3,000 sequences at fraction=1.0 (fraction=0.1: ~300) of `size` x `size` (400) frames;
  lengths drawn from `LENGTH_PMF`: 56 % of the fires have 2-6 frames, a slowly thinning tail runs
  to 59, and a quarter still burn when the run stops at 60 frames; ~64K next-step samples
  (a sequence of n frames gives n - 1) and ~133K PNGs in all;
- frames are RGBA PNGs in Matplotlib's viridis colours, background (68, 1, 84, 255) and fire
  (253, 231, 36, 255), ~1-3 KB each; the burned area is cumulative, tens to hundreds of pixels
  in frame 0, growing by ~25-125 % a step early on, with a ragged edge and late-burning pockets;
  `isochrones/` holds the same masks as `fire_frames/` (as the real export does);
- names `fire_frames/sequence_0001/fire_000.png`, `isochrones/sequence_0001/iso_000.png`;
- `landscape/Input_Geotiff.tif` 1173 x 1406 (H x W) float32, nodata -9999 (a ragged corner
  outside the study area and scattered holes), continuous, code and binary bands;
  `landscape/indices.json` with windows anywhere inside it (they overlap);
  `landscape/WeatherHistory.csv` with the absolute paths of the machine that ran the simulations
  (`/home/user/sims/Weathers/Weather12.csv`; sequence i's file is a shuffled number, not i), and
  `landscape/Weathers/Weather<k>.csv` (`Instance,datetime,WS,WD`, one row per frame plus a spare),
  CRLF line endings.

Sequences are written one at a time by `workers` processes (nothing holds more than one fire);
every sequence draws from its own random stream, so the bytes depend on the seed only (not on
`workers`). `size` is there for tests (small frames); keep the default for the scale.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from PIL import Image

from emberformer.cli import parse_arguments, run_command
from emberformer.data.generate.generator import draw_weather, prepare_out
from emberformer.data.generate.landscape import NB_WATER, NONBURNABLE_CODES, fractal_field, quantise, slope_aspect
from emberformer.data.organized_spreads.layout import (
    FIRE_GREEN,
    FRAMES_DIR,
    INDICES_NAME,
    ISOCHRONES_DIR,
    LANDSCAPE_DIR,
    NODATA,
    WEATHER_HISTORY_NAME,
    WEATHERS_DIR,
    write_landscape,
)
from emberformer.errors import ConfigError, exit_on_user_error

FULL_SEQUENCES = 3000
LANDSCAPE_SHAPE = (1173, 1406)  # H, W of the real Input_Geotiff.tif
BAND_NAMES = ["elevation", "slope", "fuel_model", "non_burnable", "water"]
BACKGROUND_RGBA = (68, 1, 84, 255)      # viridis(0)
FIRE_RGBA = (253, FIRE_GREEN, 36, 255)  # viridis(1)
# zlib level 6 (libpng's and Matplotlib's default, as in the real export) gives 1.5-3 KB frames
# (1.9 KB on average; the real ones ~1.6 KB) in ~3-5 ms each; levels 1-3 are hardly faster and
# ~2.5x larger, level 9 is ~10 % smaller and 3-5x slower.
PNG_COMPRESS_LEVEL = 6
HISTORY_PREFIX = "/home/user/sims/Weathers/"
CRLF = "\r\n"


def _length_pmf() -> np.ndarray:
    """P(n frames) for n = 0..60: 56 % short fires (2-6 frames), 19 % a tail thinning by 3 % a
    frame from 7 to 59, 25 % cut at 60 frames. Mean ~22.3 frames, so 3,000 fires give ~64K samples."""
    pmf = np.zeros(61)
    pmf[2:7] = (0.10, 0.12, 0.12, 0.11, 0.11)
    tail = 0.97 ** np.arange(53)
    pmf[7:60] = 0.19 * tail / tail.sum()
    pmf[60] = 0.25
    return pmf


LENGTH_PMF = _length_pmf()
SHORT_MAX = 6  # "short" fires, more than half of them


@dataclass(frozen=True)
class ScaleConfig:
    out: str
    fraction: float = 1.0  # share of the full ~3,000 sequences
    seed: int = 0
    overwrite: bool = False
    workers: int = 2
    size: int = 400        # frame (crop window) side in pixels; smaller only for tests

    @property
    def n_sequences(self) -> int:
        return max(1, round(FULL_SEQUENCES * self.fraction))

    def validate(self) -> ScaleConfig:
        side = min(LANDSCAPE_SHAPE)
        checks = [
            (0 < self.fraction <= 1, "fraction", f"use a share in (0, 1] of the {FULL_SEQUENCES} sequences"),
            (self.workers >= 1, "workers", "use 1 or more processes"),
            (self.seed >= 0, "seed", "use 0 or a positive integer"),
            (16 <= self.size <= side, "size", f"use 16..{side} pixels (400 is the real frame size)"),
        ]
        for ok, key, fix in checks:
            if not ok:
                raise ConfigError(f"{key}={getattr(self, key)} is invalid for the scale fixture: {fix}")
        return self

    def command(self) -> str:
        """The command line that regenerates this dataset in place (workers don't change the bytes)."""
        return (f"python -m emberformer.data.generate.scale out={self.out} fraction={self.fraction:g} "
                f"seed={self.seed} overwrite=true workers={self.workers} size={self.size}")


def parse_args(argv: list[str]) -> ScaleConfig:
    args = parse_arguments(argv, ScaleConfig, example="out=/tmp/scale fraction=0.1 workers=2")
    if OmegaConf.is_missing(args, "out"):
        raise ConfigError("the scale fixture needs out=DIR: the folder to write the dataset into")
    return ScaleConfig(**OmegaConf.to_container(args)).validate()


def stream(seed: int, *key: int) -> np.random.Generator:
    """An independent random stream per purpose and sequence: (0,) plan, (1,) landscape, (2, id) a fire."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def draw_lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    """n lengths at evenly spaced quantiles of LENGTH_PMF, shuffled: the shape holds at any scale
    (more than half of the fires have <= 6 frames for n = 1, 3, 5, 7, and every n >= 9)."""
    cdf = np.cumsum(LENGTH_PMF)
    sorted_lengths = np.searchsorted(cdf, (np.arange(n) + 0.5) / n * cdf[-1])
    return rng.permutation(sorted_lengths)


@dataclass(frozen=True)
class Job:
    """One sequence to write; everything a worker needs."""

    out: str
    seed: int
    seq_id: int
    length: int
    size: int
    weather_no: int


def plan_sequences(cfg: ScaleConfig) -> tuple[list[Job], dict[str, list[int]]]:
    """The jobs and the crop windows ({"<id>": [y0, y1, x0, x1]}) for cfg."""
    rng = stream(cfg.seed, 0)
    n = cfg.n_sequences
    lengths = draw_lengths(rng, n)
    (h, w), size = LANDSCAPE_SHAPE, cfg.size
    y0 = rng.integers(0, h - size + 1, n)
    x0 = rng.integers(0, w - size + 1, n)
    weather_no = rng.permutation(n) + 1
    jobs = [Job(str(cfg.out), cfg.seed, i + 1, int(lengths[i]), size, int(weather_no[i])) for i in range(n)]
    windows = {str(i + 1): [int(y0[i]), int(y0[i]) + size, int(x0[i]), int(x0[i]) + size] for i in range(n)}
    return jobs, windows


# ----------------------------------------------------------------------------- one fire

@dataclass(frozen=True)
class Fire:
    """A fire as a field and thresholds: frame t burns where field <= radii[t] (so it is cumulative)."""

    field: np.ndarray   # float32 [size, size]: distance from the ignition, scaled by the shape, plus noise
    radii: np.ndarray   # float64 [n], increasing
    wind_speed: np.ndarray  # [n + 1] km/h
    wind_from: np.ndarray   # [n + 1] degrees

    def masks(self):
        """The n bool [size, size] frames, one at a time."""
        for r in self.radii:
            yield self.field <= r


def draw_fire(seed: int, seq_id: int, length: int, size: int) -> Fire:
    """Sequence seq_id's fire: an egg around the ignition with its long end downwind, a few lobes,
    a ragged edge (per-pixel noise) whose tail leaves pockets that burn later."""
    rng = stream(seed, 2, seq_id)
    wind_speed, wind_from = draw_weather(rng, length + 1)
    iy, ix = (rng.uniform(0.3, 0.7, 2) * size).astype(int)
    dy = np.arange(size, dtype=np.float32)[:, None] - iy
    dx = np.arange(size, dtype=np.float32)[None, :] - ix
    theta = np.arctan2(dy, dx)
    toward = np.radians(wind_from[0] + 180.0)  # bearing the fire heads to; rows run north -> south
    heading = np.arctan2(-np.cos(toward), np.sin(toward))
    eccentricity = rng.uniform(0.1, 0.6)
    shape = 1.0 / (1.0 - eccentricity * np.cos(theta - heading))
    for k in range(2, 6):
        shape = shape * (1.0 + rng.uniform(0.0, 0.06) * np.cos(k * theta + rng.uniform(0.0, 2 * np.pi)))
    field = np.hypot(dy, dx) / shape + rng.exponential(0.35, (size, size))
    field[iy, ix] = 0.0  # the ignition point burns from frame 0
    r0 = rng.uniform(2.5, 6.0)
    speed = r0 * rng.uniform(0.15, 0.4)  # radius gained a step: early area growth ~25-125 %
    radii = r0 + np.concatenate([[0.0], np.cumsum(speed * rng.uniform(0.75, 1.25, length - 1))])
    return Fire(field.astype(np.float32), radii, wind_speed, wind_from)


def rgba_frames(fire: Fire):
    """(bool mask, uint8 [H, W, 4] RGBA image) per frame. One image buffer, painted with each frame's
    newly burned pixels only (the fire is cumulative): ~10x cheaper than colouring every frame."""
    size = fire.field.shape
    rgba = np.empty((*size, 4), dtype=np.uint8)
    rgba[...] = BACKGROUND_RGBA
    burned = np.zeros(size, dtype=bool)
    for mask in fire.masks():
        rgba[mask & ~burned] = FIRE_RGBA
        burned = mask
        yield mask, rgba


def encode_png(rgba: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def sequence_name(seq_id: int) -> str:
    return f"sequence_{seq_id:04d}"


def weather_csv(fire: Fire, weather_no: int, rng: np.random.Generator) -> str:
    start = datetime(2019, 1, 1) + timedelta(hours=int(rng.integers(0, 24 * 300)))
    lines = ["Instance,datetime,WS,WD"] + [
        f"{weather_no},{start + timedelta(hours=r):%Y-%m-%d %H:%M},{ws:.1f},{wd:.0f}"
        for r, (ws, wd) in enumerate(zip(fire.wind_speed, fire.wind_from, strict=True))]
    return CRLF.join(lines) + CRLF


def write_sequence(job: Job) -> dict:
    """Write one sequence's frames, isochrones and weather file; returns its statistics."""
    out = Path(job.out)
    fire = draw_fire(job.seed, job.seq_id, job.length, job.size)
    weather = weather_csv(fire, job.weather_no, stream(job.seed, 3, job.seq_id))
    (out / LANDSCAPE_DIR / WEATHERS_DIR / f"Weather{job.weather_no}.csv").write_bytes(weather.encode())
    frames = out / FRAMES_DIR / sequence_name(job.seq_id)
    isochrones = out / ISOCHRONES_DIR / sequence_name(job.seq_id)
    frames.mkdir(parents=True)
    isochrones.mkdir(parents=True)
    areas, png_bytes = [], 0
    for t, (mask, rgba) in enumerate(rgba_frames(fire)):
        data = encode_png(rgba)
        (frames / f"fire_{t:03d}.png").write_bytes(data)
        (isochrones / f"iso_{t:03d}.png").write_bytes(data)
        areas.append(int(np.count_nonzero(mask)))
        png_bytes += 2 * len(data)
    return {"seq_id": job.seq_id, "length": job.length, "areas": areas[:2] + areas[-1:], "png_bytes": png_bytes}


# ----------------------------------------------------------------------------- landscape

def draw_landscape(rng: np.random.Generator) -> np.ndarray:
    """float32 [5, H, W] bands named BAND_NAMES, NODATA outside a ragged study-area corner and in
    0.1 % scattered holes per band."""
    shape = LANDSCAPE_SHAPE
    elevation = quantise(900.0 + 250.0 * fractal_field(rng, shape, beta=3.8), 1 / 8)
    slope = quantise(np.degrees(np.arctan(slope_aspect(elevation, 30.0)[0])), 1 / 64)
    codes = np.array([101, 102, 122, 142, 165, 183, 91, NB_WATER])
    rank = np.clip((fractal_field(rng, shape, beta=3.4) + 2.0) / 4.0, 0.0, 0.999)
    fuel = codes[(rank * len(codes)).astype(int)].astype(np.float32)
    non_burnable = np.isin(fuel, NONBURNABLE_CODES).astype(np.float32)
    water = (fuel == NB_WATER).astype(np.float32)
    bands = np.stack([elevation, slope, fuel, non_burnable, water]).astype(np.float32)
    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w]
    outside = cols - (w - 150) > rows + rng.integers(-3, 4, shape)
    nodata = outside[None] | (rng.random(bands.shape) < 0.001)
    bands[nodata] = NODATA
    return bands


# ----------------------------------------------------------------------------- the whole dataset

def _write_index_files(out: Path, jobs: list[Job], windows: dict[str, list[int]]) -> None:
    land = out / LANDSCAPE_DIR
    (land / WEATHERS_DIR).mkdir(parents=True, exist_ok=True)
    (land / INDICES_NAME).write_text(json.dumps(windows) + "\n")
    history = CRLF.join(f"{HISTORY_PREFIX}Weather{job.weather_no}.csv" for job in jobs) + CRLF
    (land / WEATHER_HISTORY_NAME).write_bytes(history.encode())


def generate(cfg: ScaleConfig, progress: bool = True) -> tuple[Path, list[dict]]:
    """Write the fixture under cfg.out (plus a README.md); returns the folder and per-sequence stats."""
    from tqdm import tqdm

    cfg.validate()
    out = prepare_out(cfg)
    jobs, windows = plan_sequences(cfg)
    if progress:
        frames = sum(job.length for job in jobs)
        print(f"planned {len(jobs)} sequences, {frames} frames, {frames - len(jobs)} samples, {2 * frames} PNGs")
    _write_index_files(out, jobs, windows)
    # Longest first, so that the last tasks are short and the processes finish together.
    order = sorted(jobs, key=lambda job: -job.length)
    stats = []
    with tqdm(total=sum(job.length for job in jobs), unit="frame", desc="writing frames",
              disable=not progress) as bar:
        pool = multiprocessing.Pool(cfg.workers) if cfg.workers > 1 else None
        try:
            results = (pool.imap_unordered(write_sequence, order, chunksize=4) if pool
                       else map(write_sequence, order))
            # The landscape is written while the workers start on the fires.
            write_landscape(out, draw_landscape(stream(cfg.seed, 1)), BAND_NAMES)
            for result in results:
                stats.append(result)
                bar.update(result["length"])
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    stats.sort(key=lambda s: s["seq_id"])
    (out / "README.md").write_text(describe(cfg, stats))
    return out, stats


def totals(stats: list[dict]) -> dict[str, int]:
    frames = sum(s["length"] for s in stats)
    return {"sequences": len(stats), "frames": frames, "samples": frames - len(stats), "pngs": 2 * frames,
            "png_bytes": sum(s["png_bytes"] for s in stats)}


def length_histogram(lengths: np.ndarray) -> str:
    bins = [(2, 3), (4, 6), (7, 14), (15, 29), (30, 59), (60, 60)]
    return ", ".join(f"{a}-{b}: {int(((lengths >= a) & (lengths <= b)).sum())}" if a < b else
                     f"{a}: {int((lengths == a).sum())}" for a, b in bins)


def describe(cfg: ScaleConfig, stats: list[dict]) -> str:
    t = totals(stats)
    lengths = np.array([s["length"] for s in stats])
    first = np.array([s["areas"][0] for s in stats])
    growth = np.array([s["areas"][1] / s["areas"][0] - 1 for s in stats])
    final = np.array([s["areas"][-1] for s in stats])
    return f"""# Scale fixture (synthetic, not for science)

Generated by `emberformer.data.generate.scale` (do not edit by hand; regenerate instead):

```
{cfg.command()}
```

A dataset shaped like the research group's Cell2Fire `organized_spreads` export, for measuring
speed and memory at the real scale: fires are cheap synthetic shapes, not simulated spread. See
the module docstring for what matches the real export.

- Sequences: {t['sequences']} of {cfg.size} x {cfg.size} frames (windows into the
  {LANDSCAPE_SHAPE[0]} x {LANDSCAPE_SHAPE[1]} landscape, overlapping); seed {cfg.seed}.
- Frames: {t['frames']}; next-step samples: {t['samples']}; PNGs (frames + isochrones): {t['pngs']},
  {t['png_bytes'] / 2**20:.1f} MiB, {t['png_bytes'] / max(t['pngs'], 1) / 1024:.2f} KiB each on average.
- Frames per sequence: {lengths.min()}-{lengths.max()}, median {np.median(lengths):g}, mean {lengths.mean():.1f};
  {(lengths <= SHORT_MAX).mean():.1%} have {SHORT_MAX} or fewer. Histogram: {length_histogram(lengths)}.
- Burned pixels: frame 0 median {np.median(first):g} ({first.min()}-{first.max()}); growth from frame 0
  to 1 median {np.median(growth):.0%}; last frame median {np.median(final):g}.
"""


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    run_command(_scale_command, __doc__, argv)


def _scale_command(argv: list[str]) -> None:
    cfg = parse_args(argv)
    start = time.perf_counter()
    out, stats = generate(cfg)
    t = totals(stats)
    print(f"wrote {t['sequences']} sequences ({t['frames']} frames, {t['samples']} samples, {t['pngs']} PNGs, "
          f"{t['png_bytes'] / 2**20:.1f} MiB of PNGs) to {out.resolve()} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
