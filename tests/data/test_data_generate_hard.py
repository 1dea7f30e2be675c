"""The generator's hard preset: hourly steps, crown fire, spotting, shifting wind, and its README."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from emberformer.data.generate.generator import BAND_NAMES, CANOPY_BAND_NAMES, GenerateConfig, generate, parse_args
from emberformer.data.generate.landscape import NB_URBAN, Landscape, add_canopy, make_landscape
from emberformer.data.organized_spreads.reader import scan_spreads

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

from tests.data.test_data_generate import folder_digest  # noqa: E402

TINY = ["preset=hard", "n_sequences=3", "size=48", "steps=8", "min_steps=3", "seed=2"]


def test_preset_sets_defaults_that_explicit_arguments_override():
    hard = parse_args(["out=x", "preset=hard"])
    assert (hard.n_sequences, hard.step_minutes, hard.steps, hard.min_steps) == (200, 60.0, 24, 6)
    assert hard.command().startswith("python -m emberformer.data.generate preset=hard out=x n_sequences=200 ")
    mixed = parse_args(["out=x", "preset=hard", "n_sequences=7", "step_minutes=30"])
    assert (mixed.n_sequences, mixed.step_minutes, mixed.steps) == (7, 30.0, 24)
    # The default (no preset, or preset=embedded) is unchanged, and so is its command line.
    for argv in (["out=x"], ["out=x", "preset=embedded"]):
        cfg = parse_args(argv)
        assert cfg == GenerateConfig(out="x")
        assert "preset" not in cfg.command()
    five = parse_args(["out=x", "preset=hard", "n_sequences=5"])
    assert parse_args(five.command().split()[3:]) == dataclasses.replace(five, landscape_size=384, overwrite=True)
    with pytest.raises(Exception, match="preset=extreme"):
        parse_args(["out=x", "preset=extreme"])


def test_canopy_follows_the_fuel_models():
    land = add_canopy(np.random.default_rng(0), make_landscape(np.random.default_rng(1), 96, heterogeneous=True))
    cover, height, base, density = land.canopy
    grass = (land.fuel_model // 10 == 10) | land.nonburnable
    timber = np.isin(land.fuel_model // 10, (16, 18))
    assert (land.canopy[:, grass] == 0).all()
    assert (cover[timber] >= 0.39).all() and (height[timber] >= 10).all() and (density[timber] > 0).all()
    assert (base <= height).all()
    assert len(np.unique(land.fuel_model[~land.nonburnable])) >= 10


def timber_with_a_road(road: bool = True, canopy: bool = True, size: int = 64) -> Landscape:
    """Flat timber-understory (TU5) under a dense, low canopy, cut north-south by a 4-cell road."""
    shape = (size, size)
    fuel = np.full(shape, 165, np.int16)
    if road:
        fuel[:, 24:28] = NB_URBAN
    layers = np.stack([np.full(shape, v, np.float32) for v in (0.8, 15.0, 1.0, 0.25)]) if canopy else None
    zeros = np.zeros(shape, np.float32)
    return Landscape(zeros, zeros, zeros, fuel, canopy=layers)


MOISTURE = (0.04, 0.05, 0.06, 0.6, 0.7)


def test_crown_fire_reaches_the_simulator():
    pytest.importorskip("pyretechnics")
    from emberformer.data.generate.simulate import FuelMoisture, simulate_burned_area

    wind = (np.full(4, 30.0), np.full(4, 270.0))  # from the west
    run = dict(ignitions=[(32, 8)], step_minutes=15.0, foliar_moisture=0.8)
    surface = simulate_burned_area(timber_with_a_road(False, False), FuelMoisture(*MOISTURE), *wind, **run)
    crown = simulate_burned_area(timber_with_a_road(False, True), FuelMoisture(*MOISTURE), *wind, **run)
    assert crown[-1].sum() > 3 * surface[-1].sum()  # crowning runs far faster than the surface fire


def test_spotting_reaches_the_simulator_and_is_seeded():
    pytest.importorskip("pyretechnics")
    from scipy import ndimage

    from emberformer.data.generate.simulate import FuelMoisture, Spotting, simulate_burned_area

    land, moisture = timber_with_a_road(), FuelMoisture(*MOISTURE)
    wind = (np.full(6, 30.0), np.full(6, 270.0))  # from the west, across the road
    run = dict(ignitions=[(32, 4)], step_minutes=10.0, foliar_moisture=0.8)
    without = simulate_burned_area(land, moisture, *wind, **run)
    assert without[-1][:, 23].any() and not without[:, :, 24:].any()  # the road stops the fire...
    spots = [simulate_burned_area(land, moisture, *wind, spotting=Spotting(0, 35.0), **run) for _ in range(2)]
    np.testing.assert_array_equal(spots[0], spots[1])  # seeded: deterministic
    assert not spots[0][:, :, 24:28].any()
    assert spots[0][-1][:, 28:].sum() > 100  # ...embers jump it
    # so the burned area has a component apart from the ignition's
    assert ndimage.label(spots[0][-1])[1] >= 2


def test_hard_preset_is_deterministic_readable_and_described(tmp_path):
    pytest.importorskip("pyretechnics")
    from emberformer.data import FireSpreadData

    out = tmp_path / "hard"
    generate(parse_args([f"out={out}", *TINY]), progress=False)
    first = folder_digest(out)
    generate(parse_args([f"out={out}", *TINY, "overwrite=true"]), progress=False)
    assert folder_digest(out) == first

    index = scan_spreads(out)
    assert index.landscape.band_names == tuple(BAND_NAMES + CANOPY_BAND_NAMES) and len(index.sequences) == 3
    data = FireSpreadData(str(out), cache_dir=str(tmp_path / "cache"), val_fraction=0.0, test_fraction=0.0)
    data.setup()
    assert data.inputs.static_channels == len(BAND_NAMES) + len(CANOPY_BAND_NAMES)

    readme = (out / "README.md").read_text()
    assert "preset=hard" in readme and "(preset: hard)" in readme
    assert data.benchmark == "preset=hard"  # what compare calls this benchmark, from dataset.json
    record = json.loads((out / "dataset.json").read_text())
    assert record["preset"] == "hard" and record["parameters"]["step_minutes"] == 60.0
    assert record["command"].startswith("python -m emberformer.data.generate preset=hard")
    for words in ("Frames:", "Fire sizes", "Growth per step", "Newly burned share", "mean F1", "step_minutes=60",
                  "crown fire", "spotting"):
        assert words in readme, words
