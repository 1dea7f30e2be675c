"""The organized_spreads reader: structure, ids, windows, names, weather."""

import json

import numpy as np
import pytest
import rasterio

from emberformer.data import FireSpreadData
from emberformer.data.organized_spreads.layout import write_metadata
from emberformer.data.organized_spreads.reader import (
    read_landscape,
    read_landscape_info,
    read_mask,
    read_metadata,
    read_weather,
    scan_spreads,
)
from emberformer.errors import DataError


def test_scan_finds_sequences_with_odd_sizes_and_skips_single_frame(make_spreads):
    root = make_spreads(lengths=(2, 7, 1, 25), sizes=((37, 53), (20, 31), (9, 9), (12, 64)))
    with pytest.warns(UserWarning, match=r"single-frame sequence.*\[3\]"):
        index = scan_spreads(root)
    assert [s.seq_id for s in index.sequences] == [1, 2, 4]
    assert index.skipped == (3,)
    assert [s.length for s in index.sequences] == [2, 7, 25]
    assert [s.shape for s in index.sequences] == [(37, 53), (20, 31), (12, 64)]
    assert index.landscape.band_names == ("elevation", "slope", "fuel_model", "water")
    assert all(len(s.isochrones) == s.length for s in index.sequences)


def test_frames_follow_natural_order_of_names(make_spreads, decode_png):
    root = make_spreads(lengths=(12,), sizes=((15, 17),))
    folder = root / "fire_frames" / "sequence_001"
    originals = sorted(folder.iterdir())
    for t, path in enumerate(originals):  # unpadded numbers: "f10" sorts before "f2" as plain text
        path.rename(folder / f"f{t}.png")
    seq = scan_spreads(root).sequences[0]
    assert [p.name for p in seq.frames] == [f"f{t}.png" for t in range(12)]
    areas = [decode_png(p).sum() for p in seq.frames]
    assert areas == sorted(areas) and areas[-1] > areas[0]  # cumulative fire: order really is by step


def test_zero_padded_index_keys_and_bare_weather_names(make_spreads):
    root = make_spreads(lengths=(3, 4))
    land = root / "landscape"
    windows = json.loads((land / "indices.json").read_text())
    (land / "indices.json").write_text(json.dumps({f"{int(k):03d}": v for k, v in windows.items()}))
    (land / "WeatherHistory.csv").write_text("Weather1.csv\nWeather2.csv\n")
    index = scan_spreads(root)
    assert [list(s.window) for s in index.sequences] == [windows["1"], windows["2"]]
    assert [s.weather for s in index.sequences] == [land / "Weathers" / "Weather1.csv",
                                                    land / "Weathers" / "Weather2.csv"]


def test_max_sequences_keeps_the_first_usable_ones(make_spreads):
    root = make_spreads(lengths=(3, 1, 4, 5))
    with pytest.warns(UserWarning):
        index = scan_spreads(root, max_sequences=2)
    assert [s.seq_id for s in index.sequences] == [1, 3]


def test_band_names_fall_back_to_band_index(make_spreads):
    root = make_spreads(lengths=(2,))
    path = root / "landscape" / "Input_Geotiff.tif"
    with rasterio.open(path) as src:
        profile, data = src.profile, src.read()
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.set_band_description(2, "slope")
    assert read_landscape_info(path).band_names == ("band_1", "slope", "band_3", "band_4")


def test_landscape_nodata_is_invalid(make_spreads):
    root = make_spreads(lengths=(2,))
    bands, valid = read_landscape(root / "landscape" / "Input_Geotiff.tif")
    assert bands.dtype == np.float32 and bands.shape == valid.shape == (4, 64, 80)
    assert not valid[0, :2, :3].any() and valid[0, 2:, :].all()  # the factory's nodata corner


def test_weather_reads_ws_wd_among_other_columns(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("\ufeffInstance,datetime,WD,FireScenario,WS\r\n"  # spreadsheet export: BOM, CRLF
                    "a,2020-01-01 10:00,359,2,12.5\n\n"
                    "a,2020-01-01 11:00,1,2,3\n"
                    "a,2020-01-01 12:00,90,2,0\n")
    np.testing.assert_array_equal(read_weather(path, 2), [[12.5, 359], [3, 1]])


def test_read_mask_accepts_palette_and_rgba(make_spreads, tmp_path, decode_png):
    from PIL import Image

    root = make_spreads(lengths=(2,), sizes=((9, 13),))
    src = root / "fire_frames" / "sequence_001" / "fire_frame_001.png"
    expected = decode_png(src).astype(bool)
    rgb = Image.open(src).convert("RGB")
    for mode, image in (("P", rgb.quantize(colors=4)), ("RGBA", rgb.convert("RGBA"))):
        converted = tmp_path / f"{mode}.png"
        image.save(converted)
        assert Image.open(converted).mode == mode
        np.testing.assert_array_equal(read_mask(converted, (9, 13)), expected)


def test_benchmark_names_come_from_the_data_and_its_metadata(make_spreads, tmp_path):
    assert FireSpreadData().benchmark == "embedded"
    root = make_spreads(tmp_path / "my_fires")
    assert FireSpreadData(str(root)).benchmark == "my_fires"  # not written by the generator
    # What the generator records in dataset.json, not what its README says in prose.
    (root / "README.md").write_text("# Simulated fire-spread dataset (preset: hard)\n")
    assert FireSpreadData(str(root)).benchmark == "my_fires"
    write_metadata(root, {"generator": "emberformer.data.generate", "preset": "hard", "parameters": {}})
    assert read_metadata(root)["preset"] == "hard" and FireSpreadData(str(root)).benchmark == "preset=hard"
    write_metadata(root, {"preset": "embedded"})  # the default recipe elsewhere: named by its folder
    assert FireSpreadData(str(root)).benchmark == "my_fires"
    (root / "dataset.json").write_text("{not json")
    with pytest.raises(DataError, match="dataset.json: unreadable"):
        FireSpreadData(str(root)).benchmark
