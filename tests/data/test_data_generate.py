"""The simulated-dataset generator (pyretechnics) and the embedded dataset it produced."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from cli import run_module

from emberformer.data.generate.generator import BAND_NAMES, GenerateConfig, generate, main, parse_args
from emberformer.data.generate.landscape import NB_URBAN, Landscape, make_landscape, slope_aspect
from emberformer.data.organized_spreads.layout import EMBEDDED_ROOT
from emberformer.data.organized_spreads.reader import (
    check_png_sizes,
    read_landscape,
    read_mask,
    read_weather,
    scan_spreads,
)
from emberformer.errors import ConfigError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")


def check_dataset(root: Path) -> int:
    """Read root with the project's organized_spreads reader and assert that its fires are
    physically sane; returns the number of sequences."""
    index = scan_spreads(root)
    assert index.landscape.band_names == tuple(BAND_NAMES) and not index.skipped
    bands, valid = read_landscape(index.landscape.path)
    assert valid.all()  # the generator uses no nodata
    nonburnable = bands[BAND_NAMES.index("nonburnable")]
    assert set(np.unique(nonburnable)) <= {0.0, 1.0}
    assert [seq.seq_id for seq in index.sequences] == list(range(1, len(index.sequences) + 1))
    for seq in index.sequences:
        check_png_sizes(seq)
        frames = np.stack([read_mask(p) for p in seq.frames])
        isochrones = np.stack([read_mask(p) for p in seq.isochrones])
        wind = read_weather(seq.weather, seq.length)
        assert ((wind[:, 0] >= 0) & (wind[:, 1] >= 0) & (wind[:, 1] < 360)).all()
        # Frames and isochrones both hold the cumulative burned area.
        np.testing.assert_array_equal(frames, isochrones)
        assert frames[0].any()
        assert (frames[:-1] <= frames[1:]).all(), f"sequence {seq.seq_id}: burned area shrinks"
        y0, y1, x0, x1 = seq.window
        assert not (frames.any(axis=0) & (nonburnable[y0:y1, x0:x1] == 1)).any(), \
            f"sequence {seq.seq_id}: a non-burnable cell burned"
        inner = frames[:-1]  # only the last frame may reach the window's border (generator's rule)
        assert not (inner[:, [0, -1], :].any() or inner[:, :, [0, -1]].any())
    return len(index.sequences)


def folder_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_committed_embedded_dataset_is_complete_and_physical():
    root = EMBEDDED_ROOT
    assert (root / "README.md").is_file()
    assert check_dataset(root) >= 50


def test_slope_and_aspect_of_a_plane_rising_north():
    rows = np.arange(10, dtype=np.float32)[:, None]
    elevation = np.repeat(30.0 * 0.25 * (9 - rows), 8, axis=1)  # row 0 is north and highest
    slope, aspect = slope_aspect(elevation, 30.0)
    np.testing.assert_allclose(slope, 0.25, rtol=1e-6)
    np.testing.assert_allclose(aspect, 180.0)  # the slope faces south


def test_landscape_is_seeded_and_has_fuel_and_firebreaks():
    a, b = (make_landscape(np.random.default_rng(3), 96) for _ in range(2))
    np.testing.assert_array_equal(a.elevation, b.elevation)
    np.testing.assert_array_equal(a.fuel_model, b.fuel_model)
    assert 0.0 < a.nonburnable.mean() < 0.3
    assert len(np.unique(a.fuel_model[~a.nonburnable])) >= 5


@pytest.fixture
def simulate():
    pytest.importorskip("pyretechnics")
    from emberformer.data.generate import simulate

    return simulate


def uniform(code: int, size: int = 48, slope: float = 0.0, aspect: float = 0.0) -> Landscape:
    return Landscape(np.zeros((size, size), np.float32), np.full((size, size), slope, np.float32),
                     np.full((size, size), aspect, np.float32), np.full((size, size), code, np.int16))


def extents(burned: np.ndarray, row: int, col: int) -> dict[str, int]:
    rows, cols = np.nonzero(burned)
    return {"north": row - rows.min(), "south": rows.max() - row, "west": col - cols.min(), "east": cols.max() - col}


def test_wind_drives_the_fire_downwind_and_burned_area_never_shrinks(simulate):
    moisture = simulate.FuelMoisture(0.06, 0.07, 0.08, 0.6, 0.9)
    steps = 8
    burned = simulate.simulate_burned_area(uniform(102), moisture, np.full(steps, 20.0),
                                           np.full(steps, 270.0), [(24, 14)], 15.0)  # wind FROM the west
    assert burned.shape == (steps, 48, 48) and burned[0][24, 14]
    assert (burned[:-1] <= burned[1:]).all() and burned[-1].sum() > burned[0].sum()
    reach = extents(burned[-1], 24, 14)
    assert reach["east"] >= 2 * reach["west"] + 4


def test_fire_runs_upslope_north(simulate):
    moisture = simulate.FuelMoisture(0.06, 0.07, 0.08, 0.6, 0.9)
    # Slope 0.4 rising to the north: the ground faces south (aspect 180).
    burned = simulate.simulate_burned_area(uniform(102, slope=0.4, aspect=180.0), moisture, np.zeros(8),
                                           np.zeros(8), [(30, 24)], 15.0)
    assert burned[0][30, 24]
    reach = extents(burned[-1], 30, 24)
    assert reach["north"] >= 2 * reach["south"]


def test_nonburnable_cells_never_burn(simulate):
    moisture = simulate.FuelMoisture(0.05, 0.06, 0.07, 0.6, 0.9)
    land = uniform(104)
    # An east-west road north of the ignition, under a south wind: a road that is not flipped
    # consistently with the frames would end up south of the fire.
    land.fuel_model[14:16, :] = NB_URBAN
    burned = simulate.simulate_burned_area(land, moisture, np.full(10, 25.0), np.full(10, 180.0),
                                           [(36, 24)], 15.0)
    assert burned[0][36, 24]
    assert burned[-1][16].any()  # the fire reached the road...
    assert not burned[:, :16].any()  # ...and neither the road nor anything beyond it burned


def test_generator_is_deterministic_and_writes_a_valid_dataset(tmp_path, capsys):
    pytest.importorskip("pyretechnics")
    out = tmp_path / "ds"
    args = [f"out={out}", "n_sequences=2", "size=64", "steps=6", "min_steps=4", "seed=5"]
    main(args)
    assert str(out) in capsys.readouterr().out
    assert check_dataset(out) == 2
    first = folder_digest(out)
    with pytest.raises(ConfigError, match="overwrite=true"):
        generate(parse_args(args), progress=False)
    generate(parse_args(args + ["overwrite=true"]), progress=False)
    assert folder_digest(out) == first
    generate(parse_args(args[:-1] + ["seed=6", "overwrite=true"]), progress=False)
    assert folder_digest(out) != first


@pytest.mark.parametrize("below", [False, True])
def test_out_that_is_a_file_is_one_line_and_nothing_is_written(tmp_path, below):
    # Checked before the simulator is needed: this runs without the simulate extra too.
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    out = a_file / "data" if below else a_file
    proc = run_module("emberformer.data.generate", f"out={out}", "n_sequences=1", "size=16", "min_steps=1")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: out={out} {'is below ' + str(a_file) + ', a file' if below else 'is a file'}, not a folder; "
        "choose a folder to write the dataset into"]
    assert a_file.read_text() == "mine" and sorted(tmp_path.iterdir()) == [a_file]


def test_parse_args_rejects_bad_input_with_one_line():
    cfg = parse_args(["out=x", "size=64", "step_minutes=20", "overwrite=true"])
    assert cfg == GenerateConfig(out="x", size=64, step_minutes=20.0, overwrite=True)
    assert cfg.landscape_side == 192
    for argv, match in [(["size=64"], "out=DIR"), (["out=x", "colour=red"], "colour"),
                        (["out=x", "size=big"], "size must be of type int"),
                        (["out=x", "steps=5", "min_steps=8"], "min_steps=8"),
                        (["out=x", "overwrite=maybe"], "overwrite")]:
        with pytest.raises(ConfigError, match=match) as err:
            parse_args(argv)
        assert "\n" not in str(err.value)
