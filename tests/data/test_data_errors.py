"""Every malformed input gives a one-line DataError naming the file, and leaves no cache behind."""

import json
import shutil

import numpy as np
import pytest
import rasterio

from emberformer.data import FireSpreadData, split_sequences
from emberformer.data.organized_spreads.layout import encode_mask
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


def sixteen_bit_grey_png(root):
    from PIL import Image

    # A fire mask saved as 16-bit grey: no green channel, so the fire rule would read "no fire".
    Image.fromarray(np.full((9, 11), 65535, np.uint16)).save(root / SEQ2_FRAMES / "fire_frame_001.png")


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
    "16-bit grey PNG": (sixteen_bit_grey_png, f"{SEQ2_FRAMES}/fire_frame_001.png: a I;16 PNG"),
    "truncated GeoTIFF": (truncated_geotiff, "Input_Geotiff.tif"),
    "GeoTIFF with unreadable strips": (zeroed_geotiff_strips, "Input_Geotiff.tif"),
    "band all nodata": (band_all_nodata, "Input_Geotiff.tif"),
    "weather without WS": (edit_weather(lambda t: t.replace("WS", "speed", 1)), "Weather2.csv"),
    "weather without WD": (edit_weather(lambda t: t.replace("WD", "dir", 1)), "Weather2.csv"),
    "non-numeric weather": (edit_weather(lambda t: replace_cell(t, 3, "WS", "calm")), "Weather2.csv"),
    "NaN in weather": (edit_weather(lambda t: replace_cell(t, 2, "WD", "nan")), "Weather2.csv"),
    "weather shorter than the sequence": (edit_weather(lambda t: "\n".join(t.splitlines()[:4])), "Weather2.csv"),
    "negative wind speed": (edit_weather(lambda t: replace_cell(t, 2, "WS", "-3")),
                            "Weather2.csv: line 3: WS is -3, a negative wind speed"),
    "no fire pixel anywhere": (lambda root: recolour_fire(root, (253, 230, 36)), "no fire pixel in any of the 8"),
}


def recolour_fire(root, colour):
    """Every frame re-encoded with fire in another colour (as a different export would)."""
    from PIL import Image

    for path in root.glob("fire_frames/*/*.png"):
        rgb = np.asarray(Image.open(path).convert("RGB")).copy()
        rgb[rgb[..., 1] == 231] = colour
        Image.fromarray(rgb).save(path)


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


def test_no_fire_error_lists_the_colours_found(make_spreads, tmp_path):
    root = make_spreads(tmp_path / "spreads", lengths=(3, 5), sizes=((9, 11),), landscape_shape=(24, 30))
    recolour_fire(root, (253, 230, 36))
    with pytest.raises(DataError, match=r"green channel is 231.*\(253, 230, 36, 255\) \d+\.\d%"):
        FireSpreadData(str(root), val_fraction=0, test_fraction=0).setup()


def set_up_warning(root) -> tuple[FireSpreadData, list[str]]:
    """The data set up, and the warnings that gave (at least one)."""
    data = FireSpreadData(str(root), val_fraction=0, test_fraction=0)
    with pytest.warns(UserWarning) as caught:
        data.setup()
    return data, [str(w.message) for w in caught]


def test_wind_direction_outside_the_circle_is_wrapped_with_a_warning(make_spreads, tmp_path):
    root = make_spreads(tmp_path / "spreads", lengths=(3, 5), sizes=((9, 11),), landscape_shape=(24, 30))
    edit_weather(lambda t: replace_cell(replace_cell(t, 2, "WD", "370"), 3, "WS", "400"))(root)
    data, messages = set_up_warning(root)
    assert any("Weather2.csv: 1 WD value(s) outside [0, 360] (first: line 3, 370); wrapped modulo 360 (to 10)" in m
               for m in messages)
    assert any("Weather2.csv: 1 WS value(s) above 150 km/h (first: line 4, 400)" in m for m in messages)
    assert data.cache.weather(data.cache.position(2))[1, 1] == 10.0
    reused, again = set_up_warning(root)
    assert reused.cache.built_s is None and sorted(again) == sorted(messages)  # said again on reuse


def test_folders_without_an_id_and_looping_links_are_named(make_spreads, tmp_path):
    root = make_spreads(tmp_path / "spreads", lengths=(3, 5), sizes=((9, 11),), landscape_shape=(24, 30))
    (root / "fire_frames" / "sequence_abc").mkdir()
    (root / "isochrones" / "sequence_009").symlink_to(root / "isochrones" / "sequence_009")  # loops
    data, messages = set_up_warning(root)
    assert any("fire_frames: skipped 1 folder(s) without a sequence id in the name ['sequence_abc']" in m
               for m in messages)
    assert any("isochrones: skipped 1 link(s) that loop or lead nowhere ['sequence_009']" in m for m in messages)
    assert data.splits["train"] == [1, 2]


def test_a_split_without_any_fire_target_is_named_at_start(make_spreads, tmp_path):
    root = make_spreads(tmp_path / "spreads", lengths=(3, 5, 4), sizes=((9, 11),), landscape_shape=(24, 30))
    [test_id] = split_sequences([1, 2, 3], val_fraction=0, test_fraction=0.3, seed=0)["test"]
    blank = encode_mask(np.zeros((9, 11), bool))
    for path in (root / "isochrones" / f"sequence_{test_id:03d}").glob("*.png"):
        blank.save(path)
    data = FireSpreadData(str(root), val_fraction=0, test_fraction=0.3, split_seed=0)
    with pytest.warns(UserWarning, match=r"no target of the test split \(1 sequences\) holds a fire pixel"):
        data.setup()
    assert data.splits["test"] == [test_id]
