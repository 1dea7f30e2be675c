"""Every malformed input gives a one-line DataError naming the file, and leaves no cache behind."""

import json
import shutil

import numpy as np
import pytest
import rasterio

from emberformer.data import FireSpreadData
from emberformer.data.layout import encode_mask
from emberformer.errors import DataError

SEQ2_FRAMES = "fire_frames/sequence_002"
SEQ2_ISO = "isochrones/sequence_002"


def rm(rel):
    def mutate(root):
        path = root / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return mutate


def empty_frames(root):
    for p in (root / SEQ2_FRAMES).glob("*.png"):
        p.unlink()


def drop_last_isochrone(root):
    sorted((root / SEQ2_ISO).glob("*.png"))[-1].unlink()


def edit_indices(fn):
    def mutate(root):
        path = root / "landscape" / "indices.json"
        path.write_text(json.dumps(fn(json.loads(path.read_text()))))
    return mutate


def window_outside(windows):
    y0, y1, x0, x1 = windows["2"]
    windows["2"] = [y0, y1, 30 - (x1 - x0) + 1, 31]  # one column past the 30-wide landscape
    return windows


def keep_weather_lines(n):
    def mutate(root):
        path = root / "landscape" / "WeatherHistory.csv"
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:n]))
    return mutate


def wrong_size_png(root):
    encode_mask(np.zeros((9, 12), bool)).save(root / SEQ2_FRAMES / "fire_frame_002.png")


def truncated_png(root):
    path = root / SEQ2_ISO / "isochrone_003.png"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # header intact: only the decode can tell


def not_a_png(root):
    (root / SEQ2_FRAMES / "fire_frame_001.png").write_bytes(b"not an image at all")


def truncated_geotiff(root):
    path = root / "landscape" / "Input_Geotiff.tif"
    path.write_bytes(path.read_bytes()[:3000])


def zeroed_geotiff_strips(root):
    path = root / "landscape" / "Input_Geotiff.tif"
    data = bytearray(path.read_bytes())  # header and directory kept: it opens, its strips don't inflate
    n = len(data)
    data[n // 4: 3 * n // 4] = bytes(3 * n // 4 - n // 4)
    path.write_bytes(bytes(data))


def band_all_nodata(root):
    path = root / "landscape" / "Input_Geotiff.tif"
    with rasterio.open(path, "r+") as dst:
        dst.write(np.full((24, 30), -9999.0, np.float32), 3)


def edit_weather(fn):
    def mutate(root):
        path = root / "landscape" / "Weathers" / "Weather2.csv"
        path.write_text(fn(path.read_text()))
    return mutate


def replace_cell(text, row, column, value):
    lines = [line.split(",") for line in text.splitlines()]
    lines[row][lines[0].index(column)] = value
    return "\n".join(",".join(line) for line in lines)


CASES = {
    "missing root": (lambda root: shutil.rmtree(root), "spreads"),
    "missing landscape/": (rm("landscape"), "landscape"),
    "missing fire_frames/": (rm("fire_frames"), "fire_frames"),
    "missing isochrones/": (rm("isochrones"), "isochrones"),
    "missing GeoTIFF": (rm("landscape/Input_Geotiff.tif"), "Input_Geotiff.tif"),
    "missing indices.json": (rm("landscape/indices.json"), "indices.json"),
    "missing WeatherHistory.csv": (rm("landscape/WeatherHistory.csv"), "WeatherHistory.csv"),
    "missing Weathers/": (rm("landscape/Weathers"), "Weathers"),
    "sequence without frames": (empty_frames, SEQ2_FRAMES),
    "sequence without isochrone folder": (rm(SEQ2_ISO), SEQ2_ISO),
    "frame/isochrone count mismatch": (drop_last_isochrone, SEQ2_ISO),
    "id missing from indices.json": (edit_indices(lambda w: {"1": w["1"]}), "indices.json"),
    "malformed indices.json": (edit_indices(lambda w: {"1": w["1"], "2": [0, 5]}), "indices.json"),
    "window outside landscape": (edit_indices(window_outside), "indices.json"),
    "id missing from WeatherHistory.csv": (keep_weather_lines(1), "WeatherHistory.csv"),
    "weather file missing": (rm("landscape/Weathers/Weather2.csv"), "Weather2.csv"),
    "PNG of the wrong size": (wrong_size_png, f"{SEQ2_FRAMES}/fire_frame_002.png"),
    "truncated PNG": (truncated_png, f"{SEQ2_ISO}/isochrone_003.png"),
    "not a PNG": (not_a_png, f"{SEQ2_FRAMES}/fire_frame_001.png"),
    "truncated GeoTIFF": (truncated_geotiff, "Input_Geotiff.tif"),
    "GeoTIFF with unreadable strips": (zeroed_geotiff_strips, "Input_Geotiff.tif"),
    "band all nodata": (band_all_nodata, "Input_Geotiff.tif"),
    "weather without WS": (edit_weather(lambda t: t.replace("WS", "speed", 1)), "Weather2.csv"),
    "weather without WD": (edit_weather(lambda t: t.replace("WD", "dir", 1)), "Weather2.csv"),
    "non-numeric weather": (edit_weather(lambda t: replace_cell(t, 3, "WS", "calm")), "Weather2.csv"),
    "NaN in weather": (edit_weather(lambda t: replace_cell(t, 2, "WD", "nan")), "Weather2.csv"),
    "weather shorter than the sequence": (edit_weather(lambda t: "\n".join(t.splitlines()[:4])), "Weather2.csv"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_names_the_file(case, make_spreads, tmp_path, isolated_cache):
    mutate, names = CASES[case]
    root = make_spreads(tmp_path / "spreads", lengths=(3, 5), sizes=((9, 11),), landscape_shape=(24, 30))
    mutate(root)
    with pytest.raises(DataError) as info:
        FireSpreadData(str(root), val_fraction=0, test_fraction=0).setup()
    message = str(info.value)
    assert names in message and "\n" not in message
    assert not isolated_cache.exists() or not any(isolated_cache.iterdir())  # no half-built cache left


def test_single_frame_sequence_is_skipped_not_an_error(make_spreads):
    root = make_spreads(lengths=(3, 1, 4))
    data = FireSpreadData(str(root), val_fraction=0, test_fraction=0)
    with pytest.warns(UserWarning, match=r"skipped 1 single-frame sequence\(s\) \[2\]"):
        data.setup()
    assert data.splits["train"] == [1, 3]
    assert len(data.dataset("train")) == 2 + 3
