"""The scale fixture (emberformer/data/generate/scale.py): shaped like the real export, read end to end."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emberformer.data import FireSpreadData
from emberformer.data.generate.scale import (
    BACKGROUND_RGBA,
    BAND_NAMES,
    FIRE_RGBA,
    LANDSCAPE_SHAPE,
    ScaleConfig,
    draw_fire,
    draw_lengths,
    encode_png,
    generate,
    parse_args,
    plan_sequences,
    rgba_frames,
    stream,
)
from emberformer.data.organized_spreads.reader import read_landscape, read_weather, scan_spreads
from emberformer.errors import ConfigError

# 12 sequences of 48 x 48 frames: seconds, not minutes; the landscape keeps the real size.
TINY = dict(fraction=0.004, size=48, seed=3)


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("scale") / "fixture"
    generate(ScaleConfig(out=str(root), workers=1, **TINY), progress=False)
    return root


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "README.md"}


def test_the_reader_and_the_cache_read_the_fixture_end_to_end(fixture_root, decode_png):
    cfg = ScaleConfig(out=str(fixture_root), **TINY)
    jobs, windows = plan_sequences(cfg)
    data = FireSpreadData(str(fixture_root), val_fraction=0.2, test_fraction=0.2).setup()
    cache = data.cache
    assert [s.seq_id for s in cache.sequences] == [job.seq_id for job in jobs] == list(range(1, 13))
    assert cache.band_names == tuple(BAND_NAMES)
    for job in jobs:
        pos = cache.position(job.seq_id)
        seq = cache.sequences[pos]
        assert seq.length == job.length and list(seq.window) == windows[str(job.seq_id)]
        fire = draw_fire(cfg.seed, job.seq_id, job.length, cfg.size)
        drawn = np.stack(list(fire.masks()))
        # The cache decoded every PNG: what it holds is what the generator drew, frames and isochrones.
        np.testing.assert_array_equal(cache.fire(pos, 0, job.length), drawn)
        np.testing.assert_array_equal(cache.isochrones(pos, 0, job.length), drawn)
        assert (np.diff(drawn.astype(np.int8), axis=0) >= 0).all()  # cumulative
        assert drawn[0].any()
        written = np.stack([fire.wind_speed, fire.wind_from], axis=1)[:job.length]
        np.testing.assert_allclose(cache.weather(pos), written, atol=1e-4)
    # And a decode independent of the reader agrees, on the real export's names.
    first = jobs[0]
    frame = fixture_root / "fire_frames" / "sequence_0001" / f"fire_{first.length - 1:03d}.png"
    iso = fixture_root / "isochrones" / "sequence_0001" / f"iso_{first.length - 1:03d}.png"
    last = list(draw_fire(cfg.seed, 1, first.length, cfg.size).masks())[-1]
    np.testing.assert_array_equal(decode_png(frame), last)
    assert frame.read_bytes() == iso.read_bytes()
    assert len(data.dataset("train")) + len(data.dataset("val")) + len(data.dataset("test")) == \
        sum(job.length - 1 for job in jobs)


def test_files_look_like_the_real_export(fixture_root):
    land = fixture_root / "landscape"
    bands, valid = read_landscape(land / "Input_Geotiff.tif")
    assert bands.shape == (len(BAND_NAMES), *LANDSCAPE_SHAPE) and bands.dtype == np.float32
    assert 0.9 < valid.mean() < 1.0  # nodata in a corner and in holes, not everywhere
    for name in ("non_burnable", "water"):
        band = bands[BAND_NAMES.index(name)]
        assert set(np.unique(band[valid[BAND_NAMES.index(name)]])) == {0.0, 1.0}
    history = (land / "WeatherHistory.csv").read_bytes().decode().split("\r\n")
    assert history[0].startswith("/home/user/sims/Weathers/Weather") and history[-1] == ""
    index = scan_spreads(fixture_root)
    for seq in index.sequences:
        header = seq.weather.read_text().splitlines()[0]
        assert header == "Instance,datetime,WS,WD"
        assert len(seq.weather.read_text().splitlines()) == seq.length + 2  # header, a row per frame, a spare
        read_weather(seq.weather, seq.length)
        assert seq.frames[0].parent.name == f"sequence_{seq.seq_id:04d}"
        assert (seq.frames[0].name, seq.isochrones[0].name) == ("fire_000.png", "iso_000.png")
    with Image.open(index.sequences[0].frames[-1]) as im:
        assert im.mode == "RGBA"
        colours = {tuple(c) for c in np.asarray(im).reshape(-1, 4)}
    assert colours == {BACKGROUND_RGBA, FIRE_RGBA}
    readme = (fixture_root / "README.md").read_text()
    assert "python -m emberformer.data.generate.scale out=" in readme and "next-step samples" in readme


def test_full_size_frames_start_small_grow_fast_and_compress_like_the_real_ones():
    areas, growth = [], []
    for seq_id in range(1, 9):
        frames = rgba_frames(draw_fire(0, seq_id, 60, 400))
        (m0, rgba0), (m1, _) = next(frames), next(frames)
        areas.append(m0.sum())
        growth.append(m1.sum() / m0.sum() - 1)
        assert 900 < len(encode_png(rgba0)) < 3000
    assert 10 <= min(areas) and max(areas) <= 500
    assert 0.15 < min(growth) and max(growth) < 1.6


@pytest.mark.parametrize("n", [1, 3, 5, 7, *range(9, 40), 300, 3000])
def test_more_than_half_of_the_sequences_are_short_with_a_tail_to_60(n):
    lengths = draw_lengths(stream(0, 0), n)
    assert (lengths <= 6).mean() > 0.5 and lengths.min() >= 2
    if n >= 300:
        assert lengths.max() == 60 and (lengths > 30).mean() > 0.2


def test_full_scale_totals_match_the_real_data():
    jobs, windows = plan_sequences(ScaleConfig(out="unused"))
    frames = sum(job.length for job in jobs)
    assert len(jobs) == 3000 and 62_000 <= frames - len(jobs) <= 67_000 and 125_000 <= 2 * frames <= 140_000
    h, w = LANDSCAPE_SHAPE
    assert all(0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w and (y1 - y0, x1 - x0) == (400, 400)
               for y0, y1, x0, x1 in windows.values())
    assert sorted(job.weather_no for job in jobs) == list(range(1, 3001))
    assert len(plan_sequences(ScaleConfig(out="unused", fraction=0.1))[0]) == 300


def test_same_seed_gives_the_same_bytes_whatever_the_workers(fixture_root, tmp_path):
    again = tmp_path / "again"
    generate(ScaleConfig(out=str(again), workers=2, **TINY), progress=False)
    assert digests(again) == digests(fixture_root)
    other = draw_fire(TINY["seed"] + 1, 1, 5, TINY["size"])
    assert not np.array_equal(other.field, draw_fire(TINY["seed"], 1, 5, TINY["size"]).field)


def test_refuses_to_overwrite_unless_asked(fixture_root, tmp_path):
    with pytest.raises(ConfigError, match="overwrite=true") as err:
        generate(ScaleConfig(out=str(fixture_root), **TINY), progress=False)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("argv, match", [
    (["fraction=0.1"], "needs out=DIR"),
    (["out=x", "fraction=0"], "fraction=0.0 is invalid"),
    (["out=x", "fraction=1.5"], "fraction=1.5 is invalid"),
    (["out=x", "fraction=lots"], "fraction"),
    (["out=x", "workers=0"], "workers=0 is invalid"),
    (["out=x", "seed=-1"], "seed=-1 is invalid"),
    (["out=x", "size=8"], "size=8 is invalid"),
    (["out=x", "frames=3"], "unknown argument 'frames'"),
])
def test_bad_arguments_are_one_line_config_errors(argv, match):
    with pytest.raises(ConfigError, match=match) as err:
        parse_args(argv)
    assert "\n" not in str(err.value)


def test_arguments_parse_with_the_defaults():
    cfg = parse_args(["out=/tmp/x", "fraction=0.1"])
    assert (cfg.fraction, cfg.seed, cfg.workers, cfg.size, cfg.overwrite, cfg.n_sequences) == \
        (0.1, 0, 2, 400, False, 300)
    assert parse_args(cfg.command().split()[3:]) == dataclasses.replace(cfg, overwrite=True)
