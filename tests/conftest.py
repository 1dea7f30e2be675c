"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emberformer.data.organized_spreads.layout import SequenceRecord, write_organized_spreads

SPREADS_BANDS = ("elevation", "slope", "fuel_model", "water")


@pytest.fixture
def make_spreads(tmp_path_factory):
    """Factory writing a small organized_spreads folder through `write_organized_spreads`.

    `make_spreads(lengths=(2, 5, 25), sizes=((37, 53),), ...) -> root`: sequence i (1-based) has
    `lengths[i-1]` frames and crop size `sizes[(i-1) % len(sizes)]` (H, W); a length of 1 makes a
    single-frame sequence that the reader skips. Fires grow as noisy discs from a random ignition
    (cumulative). Bands: elevation (with nodata pixels), slope, fuel_model (integer codes) and
    water (binary). With `distinct_isochrones` each isochrone adds a few pixels to its fire frame
    so tests can tell targets from inputs. Weather files carry an extra text column and
    `extra_weather_rows` more rows than steps.
    """

    def make(root: Path | None = None, *, lengths=(2, 5, 25), sizes=((37, 53),), landscape_shape=(64, 80),
             seed: int = 0, distinct_isochrones: bool = False, extra_weather_rows: int = 2) -> Path:
        root = Path(root) if root is not None else tmp_path_factory.mktemp("spreads")
        rng = np.random.default_rng(seed)
        lh, lw = landscape_shape
        yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float32)
        elevation = 800 + 300 * np.sin(yy / 9) * np.cos(xx / 13) + rng.normal(0, 5, (lh, lw))
        elevation[:2, :3] = -9999.0  # nodata corner
        slope = np.hypot(*np.gradient(elevation.clip(min=0))) / 30.0
        fuel = rng.choice([101, 102, 121, 142, 165, 183], size=(lh, lw)).astype(np.float32)
        water = (rng.random((lh, lw)) < 0.05).astype(np.float32)
        landscape = np.stack([elevation, slope, fuel, water]).astype(np.float32)

        records = []
        for i, n in enumerate(lengths, start=1):
            h, w = sizes[(i - 1) % len(sizes)]
            y0, x0 = int(rng.integers(0, lh - h + 1)), int(rng.integers(0, lw - w + 1))
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            dist = np.hypot(*np.mgrid[0:h, 0:w] - np.array([cy, cx])[:, None, None])
            # A fixed noise field and growing radii make every frame a superset of the previous one.
            radii = 1.0 + np.arange(n) * max(h, w) / (1.5 * max(n, 2))
            fire = dist[None] < radii[:, None, None] + rng.uniform(-1, 1, (h, w))[None]
            iso = fire | (rng.random((n, h, w)) < 0.02) if distinct_isochrones else fire.copy()
            rows = n + extra_weather_rows
            weather = {"Scenario": np.array([f"s{i}"] * rows), "WS": rng.uniform(0, 40, rows),
                       "WD": rng.uniform(0, 360, rows)}
            records.append(SequenceRecord(i, (y0, y0 + h, x0, x0 + w), fire, iso, weather))
        return write_organized_spreads(root, landscape, list(SPREADS_BANDS), records)

    return make


# A tiny EmberFormer trained once per test session, for the tools that read a finished run.
# debug=fast trains the tiny EmberFormer (conf/model/emberformer_tiny.yaml).
TINY_TRAIN = ["debug=fast", "hardware=cpu", "logger.mode=offline", "train.limit_train_batches=1",
              "train.limit_val_batches=null"]  # the whole val split, so evaluate can reproduce val_metrics


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A finished two-epoch training run of the tiny (~0.3M-parameter) EmberFormer."""
    from cli import run_module

    run_dir = tmp_path_factory.mktemp("tiny_training_run")
    proc = run_module("emberformer.train", *TINY_TRAIN, f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return run_dir


@pytest.fixture(scope="session")
def wsts_root(tmp_path_factory):
    """A small synthetic WildfireSpreadTS copy (2 fires a year, 2018-2021, ~100 px), written once as
    the release's GeoTIFFs (`.geotiff`) and as CreateHDF5Dataset's HDF5 files (`.hdf5`)."""
    from types import SimpleNamespace

    from emberformer.data.generate.wildfirespreadts import FixtureConfig, generate

    folder = tmp_path_factory.mktemp("wildfirespreadts")
    roots = SimpleNamespace(geotiff=folder / "geotiff", hdf5=folder / "hdf5")
    generate(FixtureConfig(out=str(roots.geotiff), hdf5=str(roots.hdf5), fires_per_year=2, min_days=7, max_days=9,
                           size=96, seed=3))
    return roots
