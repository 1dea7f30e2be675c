"""Generate a simulated fire-spread dataset in the `organized_spreads` layout.

    python -m emberformer.data.generate out=DIR [n_sequences=60] [size=128] [steps=30]
        [min_steps=10] [landscape_size=3*size] [step_minutes=15] [seed=1] [overwrite=false]
        [preset=embedded|hard]

preset=hard (the harder benchmark) changes the defaults to n_sequences=200 steps=24 min_steps=6
step_minutes=60 (explicit arguments still override them) and the physics: crown fire through
canopy layers (cover, height, base height, bulk density) that follow the fuel models, spotting
(pyretechnics' ember lofting, seeded), more heterogeneous fuels, stronger and more frequent
frontal wind shifts, hotter/drier days. preset=embedded (the default) is the embedded dataset's
recipe and writes byte-identical output to before presets existed.

One procedural landscape (see landscape.py); each sequence is a size x size crop window of it
(windows may overlap) in which pyretechnics spreads a Rothermel surface fire (level-set solver,
no spotting) under drifting wind with a possible frontal shift. Same seed -> same bytes.

Keep/drop rule for a simulated fire:
  1. the sequence is cut at the first frame whose burned area reaches the window's border
     (that frame is kept: beyond it the window edge would act as an artificial fire break);
  2. it is dropped if fewer than `min_steps` frames remain;
  3. it is dropped if it grew by fewer than 0.5 % of the window's cells between its first and
     last frame (fires that never really spread).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from omegaconf import OmegaConf

from emberformer.cli import given_keys, parse_arguments, run_command
from emberformer.data.generate.landscape import Landscape, add_canopy, make_landscape, quantise
from emberformer.data.organized_spreads.layout import (
    FRAMES_DIR,
    ISOCHRONES_DIR,
    LANDSCAPE_DIR,
    SequenceRecord,
    write_metadata,
    write_organized_spreads,
)
from emberformer.errors import ConfigError, exit_on_user_error

# pyretechnics (the `simulate` extra) is imported only where a fire is simulated, so that the
# command's argument checks and --help work without it.
if TYPE_CHECKING:
    from emberformer.data.generate.simulate import FuelMoisture

BAND_NAMES = ["elevation", "slope", "aspect_sin", "aspect_cos", "fuel_load", "fuel_depth", "nonburnable"]
BAND_DOCS = {
    "elevation": "metres above sea level",
    "slope": "rise/run",
    "aspect_sin": "sin of the azimuth the slope faces (0 on flat ground)",
    "aspect_cos": "cos of the azimuth the slope faces (0 on flat ground)",
    "fuel_load": "total fuel load of the cell's Scott & Burgan fuel model, kg/m2 (0 if non-burnable)",
    "fuel_depth": "fuel bed depth of the cell's fuel model, m (0 if non-burnable)",
    "nonburnable": "1 for water, bare rock and roads, else 0",
    "canopy_cover": "canopy cover, 0-1 (0 on grass and non-burnable cells)",
    "canopy_height": "canopy (stand) height, m",
    "canopy_base_height": "canopy base height, m",
    "canopy_bulk_density": "canopy bulk density, kg/m3",
}
CANOPY_BAND_NAMES = ["canopy_cover", "canopy_height", "canopy_base_height", "canopy_bulk_density"]
MIN_GROWTH_FRACTION = 0.005
MAX_ATTEMPTS_PER_SEQUENCE = 50
# A preset's defaults for the other knobs; explicit arguments override them.
PRESETS: dict[str, dict[str, object]] = {
    "embedded": {},
    "hard": {"n_sequences": 200, "steps": 24, "min_steps": 6, "step_minutes": 60.0},
}


@dataclass(frozen=True)
class GenerateConfig:
    out: str
    n_sequences: int = 60
    size: int = 128           # crop window side, cells
    steps: int = 30           # most frames per sequence
    min_steps: int = 10       # fewest frames per sequence
    landscape_size: int = 0   # 0 = 3 * size
    step_minutes: float = 15.0
    seed: int = 1
    overwrite: bool = False
    preset: str = "embedded"  # a key of PRESETS; left out of command() when it is the default

    @classmethod
    def for_preset(cls, preset: str = "embedded", **given) -> GenerateConfig:
        """The preset's defaults (PRESETS) under the `given` values."""
        if preset not in PRESETS:
            raise ConfigError(f"preset={preset} is unknown: use one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[preset], **given, "preset": preset})

    @property
    def hard(self) -> bool:
        return self.preset == "hard"

    @property
    def landscape_side(self) -> int:
        return self.landscape_size or 3 * self.size

    def validate(self) -> GenerateConfig:
        checks = [
            (self.n_sequences >= 1, "n_sequences", "use 1 or more"),
            (self.size >= 16, "size", "use 16 or more cells"),
            (1 <= self.min_steps <= self.steps, "min_steps", f"use 1..steps ({self.steps})"),
            (self.landscape_side >= self.size, "landscape_size", f"use 0 or at least size ({self.size})"),
            (self.step_minutes > 0, "step_minutes", "use a positive number of minutes"),
            (self.preset in PRESETS, "preset", f"use one of {', '.join(PRESETS)}"),
        ]
        for ok, key, fix in checks:
            if not ok:
                raise ConfigError(f"{key}={getattr(self, key)} is invalid for the generator: {fix}")
        return self

    def command(self) -> str:
        """The command line that regenerates this dataset in place."""
        values = {**dataclasses.asdict(self), "landscape_size": self.landscape_side, "overwrite": True}
        preset = values.pop("preset")
        if preset != "embedded":  # the default's command line is unchanged by presets
            values = {"preset": preset, **values}
        return "python -m emberformer.data.generate " + " ".join(
            f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in values.items())


def parse_args(argv: list[str]) -> GenerateConfig:
    """key=value arguments (Hydra-style overrides) -> a validated GenerateConfig."""
    args = parse_arguments(argv, GenerateConfig, example="out=data/sim n_sequences=300 size=400")
    if OmegaConf.is_missing(args, "out"):
        raise ConfigError("the generator needs out=DIR: the folder to write the dataset into")
    values = OmegaConf.to_container(args)
    given = given_keys(argv)
    return GenerateConfig.for_preset(**{k: v for k, v in values.items()
                                        if k in given or k not in PRESETS.get(values["preset"], {})}
                                     ).validate()


def static_bands(land: Landscape) -> np.ndarray:
    """The [7, H, W] float32 bands named by BAND_NAMES."""
    from emberformer.data.generate.simulate import fuel_properties

    load, depth = fuel_properties(land.fuel_model)
    flat = np.isnan(land.aspect)
    azimuth = np.radians(np.nan_to_num(land.aspect))
    aspect_sin = np.where(flat, 0.0, quantise(np.sin(azimuth), 1 / 1024))
    aspect_cos = np.where(flat, 0.0, quantise(np.cos(azimuth), 1 / 1024))
    return np.stack([land.elevation, land.slope, aspect_sin, aspect_cos, load, depth,
                     land.nonburnable]).astype(np.float32)


def band_names(cfg: GenerateConfig) -> list[str]:
    return BAND_NAMES + CANOPY_BAND_NAMES if cfg.hard else BAND_NAMES


def landscape_bands(land: Landscape, cfg: GenerateConfig) -> tuple[np.ndarray, list[str]]:
    """The static bands and their names: BAND_NAMES, plus the canopy layers for the hard preset."""
    bands = static_bands(land)
    if cfg.hard:
        bands = np.concatenate([bands, land.canopy.astype(np.float32)])
    return bands, band_names(cfg)


@dataclass(frozen=True)
class Scenario:
    """Everything that varies between fires besides the landscape."""

    window: tuple[int, int, int, int]  # y0, y1, x0, x1, end-exclusive
    moisture: FuelMoisture
    wind_speed: np.ndarray             # [n] km/h at 10 m, row t drives spread from frame t to t+1
    wind_from: np.ndarray              # [n] degrees clockwise from north the wind comes FROM
    ignitions: list[tuple[int, int]]   # (row, col) inside the window, north-up
    # Hard preset only: air temperature (degrees C, drives ember ignition), foliar moisture
    # (kg/kg, drives crowning) and the seed of pyretechnics' spotting random generator.
    temperature: float | None = None
    foliar_moisture: float = 1.0
    spot_seed: int | None = None


def draw_weather(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Wind speed drifting as a random walk; direction veering slowly, and in half of the fires a
    frontal passage that swings it by 40-120 degrees over two steps and freshens the wind."""
    speed = rng.uniform(2.0, 28.0) + np.cumsum(rng.normal(0.0, 1.5, n))
    direction = rng.uniform(0.0, 360.0) + np.cumsum(rng.normal(0.0, 4.0, n))
    if n >= 4 and rng.random() < 0.5:
        front = rng.integers(2, n - 1)
        swing = rng.choice([-1.0, 1.0]) * rng.uniform(40.0, 120.0)
        direction[front:] += swing / 2
        direction[front + 1:] += swing / 2
        speed[front:] += rng.uniform(3.0, 10.0)
    # Rounded before simulating, so that the written weather is exactly what drove the fire.
    return np.round(np.clip(speed, 0.0, 45.0), 1), np.round(direction % 360.0) % 360.0


def draw_weather_hard(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The hard preset's wind (hourly steps): stronger and gustier, veering faster, and in 85 % of
    the fires one or two frontal passages that each swing it by 60-180 degrees within one or two
    steps and freshen it."""
    speed = rng.uniform(8.0, 32.0) + np.cumsum(rng.normal(0.0, 3.0, n))
    direction = rng.uniform(0.0, 360.0) + np.cumsum(rng.normal(0.0, 10.0, n))
    if n >= 4 and rng.random() < 0.85:
        n_fronts = 1 if n < 8 else int(rng.integers(1, 3))
        for front in np.sort(rng.choice(np.arange(1, n - 1), size=n_fronts, replace=False)):
            swing = rng.choice([-1.0, 1.0]) * rng.uniform(60.0, 180.0)
            if rng.random() < 0.5:  # abrupt: within one step
                direction[front:] += swing
            else:
                direction[front:] += swing / 2
                direction[front + 1:] += swing / 2
            speed[front:] += rng.uniform(5.0, 15.0)
    return np.round(np.clip(speed, 0.0, 60.0), 1), np.round(direction % 360.0) % 360.0


def draw_ignitions(rng: np.random.Generator, burnable: np.ndarray, wind_from: float) -> list[tuple[int, int]]:
    """One to three nearby burnable cells, placed upwind of the window's centre so that the head
    fire has room to run before it reaches the border."""
    size = burnable.shape[0]
    upwind = np.radians(wind_from)
    target = np.array([size / 2 - 0.2 * size * np.cos(upwind), size / 2 + 0.2 * size * np.sin(upwind)])
    target = np.clip(target + rng.normal(0.0, size / 10, 2), 4, size - 5)
    rows, cols = np.nonzero(burnable)
    first = int(np.argmin((rows - target[0]) ** 2 + (cols - target[1]) ** 2))
    points = [(int(rows[first]), int(cols[first]))]
    for _ in range(rng.integers(0, 3)):
        r, c = np.clip(np.array(points[0]) + rng.integers(-3, 4, 2), 0, size - 1)
        if burnable[r, c] and (r, c) not in points:
            points.append((int(r), int(c)))
    return points


def draw_scenario(rng: np.random.Generator, land: Landscape, cfg: GenerateConfig) -> Scenario | None:
    from emberformer.data.generate.simulate import FuelMoisture

    side, size = land.shape[0], cfg.size
    y0, x0 = (int(v) for v in rng.integers(0, side - size + 1, 2))
    window = (y0, y0 + size, x0, x0 + size)
    burnable = ~land.crop(*window).nonburnable
    if burnable.mean() < 0.5:
        return None
    dead = rng.uniform(0.03, 0.10)
    moisture = FuelMoisture(dead_1hr=round(dead, 3), dead_10hr=round(dead + rng.uniform(0.01, 0.02), 3),
                            dead_100hr=round(dead + rng.uniform(0.02, 0.04), 3),
                            live_herbaceous=round(rng.uniform(0.4, 1.2), 3),
                            live_woody=round(rng.uniform(0.7, 1.4), 3))
    n = int(rng.integers(cfg.min_steps, cfg.steps + 1))
    if not cfg.hard:
        wind_speed, wind_from = draw_weather(rng, n)
        return Scenario(window, moisture, wind_speed, wind_from, draw_ignitions(rng, burnable, wind_from[0]))
    wind_speed, wind_from = draw_weather_hard(rng, n)
    ignitions = draw_ignitions(rng, burnable, wind_from[0])
    return Scenario(window, moisture, wind_speed, wind_from, ignitions,
                    temperature=round(float(rng.uniform(18.0, 38.0)), 1),
                    foliar_moisture=round(float(rng.uniform(0.75, 1.2)), 2),
                    spot_seed=int(rng.integers(2**31)))


def simulate_sequence(land: Landscape, scenario: Scenario, cfg: GenerateConfig, seq_id: int
                      ) -> tuple[SequenceRecord | None, str]:
    """Run one fire and apply the keep/drop rule (module docstring). Returns (record, outcome)."""
    from emberformer.data.generate.simulate import Spotting, simulate_burned_area

    # Frame k is observed at time (k + 1) * step: the first step is a spin-up from the ignition
    # point(s) under the first row's wind, so that frame 0 already shows a small fire.
    sim_speed = np.concatenate([scenario.wind_speed[:1], scenario.wind_speed[:-1]])
    sim_from = np.concatenate([scenario.wind_from[:1], scenario.wind_from[:-1]])
    extra = {}
    if scenario.spot_seed is not None:
        extra = {"spotting": Spotting(scenario.spot_seed, scenario.temperature),
                 "foliar_moisture": scenario.foliar_moisture}
    burned = simulate_burned_area(land.crop(*scenario.window), scenario.moisture, sim_speed, sim_from,
                                  scenario.ignitions, cfg.step_minutes, **extra)
    border = (burned[:, [0, -1], :].any(axis=(1, 2)) | burned[:, :, [0, -1]].any(axis=(1, 2)))
    n = int(np.argmax(border)) + 1 if border.any() else len(burned)
    if n < cfg.min_steps:
        return None, "reached the border too early"
    if burned[n - 1].sum() - burned[0].sum() < MIN_GROWTH_FRACTION * cfg.size**2:
        return None, "barely grew"
    m = scenario.moisture
    weather = {
        "WS": scenario.wind_speed[:n], "WD": scenario.wind_from[:n],
        # Fuel moistures in percent, constant over a fire.
        **{key: np.full(n, round(100 * value, 1)) for key, value in
           (("FM1", m.dead_1hr), ("FM10", m.dead_10hr), ("FM100", m.dead_100hr),
            ("FMLH", m.live_herbaceous), ("FMLW", m.live_woody))},
    }
    if scenario.temperature is not None:
        weather["T"] = np.full(n, scenario.temperature)
        weather["FMF"] = np.full(n, round(100 * scenario.foliar_moisture, 1))
    return SequenceRecord(seq_id=seq_id, window=scenario.window, fire_frames=burned[:n],
                          isochrones=burned[:n], weather=weather), "kept"


def prepare_out(cfg) -> Path:
    """`cfg.out`, emptied of an earlier dataset when `cfg.overwrite` (else a ConfigError); any
    generator's config with `out` and `overwrite` (also the scale fixture's)."""
    out = Path(cfg.out).expanduser()
    nearest = next(p for p in (out.absolute(), *out.absolute().parents) if p.exists())
    if not nearest.is_dir():
        where = "is a file" if nearest == out.absolute() else f"is below {nearest}, a file"
        raise ConfigError(f"out={cfg.out} {where}, not a folder; choose a folder to write the dataset into")
    existing = [out / d for d in (LANDSCAPE_DIR, FRAMES_DIR, ISOCHRONES_DIR) if (out / d).exists()]
    if existing and not cfg.overwrite:
        raise ConfigError(f"out={cfg.out} already holds a dataset: pass overwrite=true or choose another folder")
    for folder in existing:
        shutil.rmtree(folder)
    return out


def generate(cfg: GenerateConfig, progress: bool = True) -> Path:
    """Simulate cfg.n_sequences fires and write them (plus a README.md) under cfg.out."""
    from tqdm import tqdm

    cfg.validate()
    out = prepare_out(cfg)
    rng = np.random.default_rng(cfg.seed)
    land = make_landscape(rng, cfg.landscape_side, heterogeneous=cfg.hard)
    if cfg.hard:
        land = add_canopy(rng, land)
    records: list[SequenceRecord] = []
    outcomes: Counter[str] = Counter()
    with tqdm(total=cfg.n_sequences, desc="simulating fires", unit="fire", disable=not progress) as bar:
        while len(records) < cfg.n_sequences:
            if outcomes.total() >= MAX_ATTEMPTS_PER_SEQUENCE * cfg.n_sequences:
                raise ConfigError(
                    f"kept only {len(records)} of n_sequences={cfg.n_sequences} fires after {outcomes.total()} "
                    f"tries ({dict(outcomes)}): use a larger size or a smaller min_steps")
            scenario = draw_scenario(rng, land, cfg)
            if scenario is None:
                outcomes["window mostly non-burnable"] += 1
                continue
            record, outcome = simulate_sequence(land, scenario, cfg, len(records) + 1)
            outcomes[outcome] += 1
            if record is not None:
                records.append(record)
                bar.update()
            bar.set_postfix(dropped=outcomes.total() - len(records))
    write_organized_spreads(out, *landscape_bands(land, cfg), records)
    write_metadata(out, metadata(cfg))
    (out / "README.md").write_text(describe(cfg, records, outcomes))
    return out


def metadata(cfg: GenerateConfig) -> dict:
    """dataset.json: the preset and every parameter, as `compare` and the data module read them."""
    parameters = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("out", "overwrite", "preset")}
    return {"generator": "emberformer.data.generate", "preset": cfg.preset,
            "parameters": {**parameters, "landscape_size": cfg.landscape_side},
            "simulator": f"pyretechnics {version('pyretechnics')}", "command": cfg.command()}


def describe(cfg: GenerateConfig, records: list[SequenceRecord], outcomes: Counter) -> str:
    lengths = np.array([len(r.fire_frames) for r in records])
    final = np.array([r.fire_frames[-1].sum() for r in records])
    bands = "\n".join(f"{i}. `{name}`: {BAND_DOCS[name]}" for i, name in enumerate(band_names(cfg), start=1))
    tries = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
    if cfg.hard:
        return describe_hard(cfg, records, tries, bands)
    return f"""# Simulated fire-spread dataset

Generated by `emberformer.data.generate` (do not edit by hand; regenerate instead):

```
{cfg.command()}
```

- Simulator: pyretechnics {version("pyretechnics")}, Rothermel surface fire, level-set spread
  (`spread_fire_with_phi_field`), no canopy, no spotting; numpy {np.__version__}.
- Landscape: one procedural {cfg.landscape_side} x {cfg.landscape_side} grid of 30 m cells
  (`landscape/Input_Geotiff.tif`, north-up); seed {cfg.seed}.
- Sequences: {len(records)}, each a {cfg.size} x {cfg.size} crop window (`landscape/indices.json`,
  windows overlap); {int(lengths.sum())} frames, {lengths.min()}-{lengths.max()} per sequence
  (mean {lengths.mean():.1f}); final burned area {int(final.min())}-{int(final.max())} cells
  (median {int(np.median(final))}).
- Time step: {cfg.step_minutes:g} min. Frame t is the burned area (cumulative) {cfg.step_minutes:g} x (t + 1) min
  after ignition; the isochrone at t holds the same mask. Weather row t (`WS` km/h at 10 m, `WD` degrees
  the wind comes FROM) is the wind that drives the fire from frame t to t + 1; `FM1`, `FM10`, `FM100`,
  `FMLH`, `FMLW` are the fire's dead 1/10/100-h and live herbaceous/woody fuel moistures (%).
- Simulated fires: {tries}. A fire is cut at the first frame that reaches the window border, dropped if
  fewer than {cfg.min_steps} frames remain or if it grew by less than {MIN_GROWTH_FRACTION:.1%} of the window.

Static bands (GeoTIFF band descriptions; nodata is not used):

{bands}
"""


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    run_command(_generate_command, __doc__, argv)


def _generate_command(argv: list[str]) -> None:
    cfg = parse_args(argv)
    start = time.perf_counter()
    out = generate(cfg)
    print(f"wrote {cfg.n_sequences} sequences to {out.resolve()} in {time.perf_counter() - start:.1f} s")


def sequence_statistics(records: list[SequenceRecord]) -> dict[str, np.ndarray]:
    """Per step (frame t -> t + 1, all sequences) statistics of the cumulative burned area:
    relative growth |A(t+1)| / |A(t)| - 1; newly burned share |A(t+1) - A(t)| / |A(t+1)|;
    the F1 of persistence (predict A(t+1) = A(t); as A(t) is inside A(t+1) it is
    2|A(t)| / (|A(t)| + |A(t+1)|)); and its average precision when its 0/1 output is used as a
    score (precision 1 at recall |A(t)|/|A(t+1)|, then the base rate on the remaining recall)."""
    growth, new_share, f1, ap, step = [], [], [], [], []
    for r in records:
        area = r.fire_frames.reshape(len(r.fire_frames), -1).sum(axis=1).astype(np.float64)
        cells = r.fire_frames[0].size
        a, b = area[:-1], area[1:]
        growth.append(b / a - 1.0)
        new_share.append((b - a) / b)
        f1.append(2 * a / (a + b))
        recall = a / b
        ap.append(recall + (1.0 - recall) * b / cells)
        step.append(np.arange(len(a)))
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in
            (("growth", growth), ("new_share", new_share), ("f1", f1), ("ap", ap), ("step", step))}


def _range(values: np.ndarray, fmt: str = ".0f") -> str:
    q = np.percentile(values, [10, 50, 90])
    return f"median {q[1]:{fmt}} (10-90 %: {q[0]:{fmt}}-{q[2]:{fmt}})"


def describe_hard(cfg: GenerateConfig, records: list[SequenceRecord], tries: str, bands: str) -> str:
    lengths = np.array([len(r.fire_frames) for r in records])
    final = np.array([r.fire_frames[-1].sum() for r in records], dtype=np.float64)
    first = np.array([r.fire_frames[0].sum() for r in records], dtype=np.float64)
    st = sequence_statistics(records)
    early = st["step"] < 3
    pct = 100.0
    return f"""# Simulated fire-spread dataset (preset: hard)

Generated by `emberformer.data.generate` with preset=hard (do not edit by hand; regenerate instead):

```
{cfg.command()}
```

- Preset: hard. Simulator: pyretechnics {version("pyretechnics")}, level-set spread
  (`spread_fire_with_phi_field`) of Rothermel surface fire with crown fire (Van Wagner initiation,
  Cruz active/passive spread) through canopy layers, and spotting (pyretechnics' ember lofting,
  `spot_config`, seeded per fire; embers ignite with Schroeder's probability from air temperature
  `T` and 1-h moisture); numpy {np.__version__}.
- Landscape: one procedural {cfg.landscape_side} x {cfg.landscape_side} grid of 30 m cells
  (`landscape/Input_Geotiff.tif`, north-up) with heterogeneous Scott & Burgan fuels (16 models in small
  patches) and canopy layers that follow them (timber: closed tall stands; shrub: scattered trees; grass:
  none); seed {cfg.seed}.
- Wind: a gusty random walk veering ~10 degrees per step; in 85 % of the fires one or two frontal
  passages, each swinging the wind by 60-180 degrees within one or two steps and freshening it.
- Sequences: {len(records)}, each a {cfg.size} x {cfg.size} crop window (`landscape/indices.json`,
  windows overlap).
- Frames: {int(lengths.sum())} in all, {lengths.min()}-{lengths.max()} per sequence (mean {lengths.mean():.1f});
  {int(lengths.sum() - len(records))} next-frame steps.
- Fire sizes (burned cells of 30 m): first frame {_range(first)}; final frame {_range(final)}
  (max {int(final.max())}, {final.max() / cfg.size**2:.0%} of the window).
- Growth per step (relative, |A(t+1)| / |A(t)| - 1): {_range(pct * st["growth"], ".0f")} %; over the
  first three steps of each fire {_range(pct * st["growth"][early], ".0f")} %.
- Newly burned share of the next frame (|A(t+1) - A(t)| / |A(t+1)|): {_range(pct * st["new_share"], ".1f")} %.
- Persistence (next frame = current frame): mean F1 over steps {st["f1"].mean():.3f};
  mean AP of its 0/1 output as a score {st["ap"].mean():.3f}.
- Time step: {cfg.step_minutes:g} min. Frame t is the burned area (cumulative) {cfg.step_minutes:g} x (t + 1) min
  after ignition; the isochrone at t holds the same mask. Weather row t (`WS` km/h at 10 m, `WD` degrees
  the wind comes FROM) is the wind that drives the fire from frame t to t + 1; `FM1`, `FM10`, `FM100`,
  `FMLH`, `FMLW` are the fire's dead 1/10/100-h and live herbaceous/woody fuel moistures (%), `FMF` its
  foliar moisture (%) and `T` its air temperature (degrees C), all constant over a fire.
- Simulated fires: {tries}. A fire is cut at the first frame that reaches the window border, dropped if
  fewer than {cfg.min_steps} frames remain or if it grew by less than {MIN_GROWTH_FRACTION:.1%} of the window.

Static bands (GeoTIFF band descriptions; nodata is not used):

{bands}
"""
