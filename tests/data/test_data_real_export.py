"""The reader on a folder written exactly like the research group's Cell2Fire export (tests/data/real_export.py):
headerless WeatherHistory of absolute POSIX/Windows paths, CRLF, extra weather columns, RGBA viridis
frames, 4-digit sequence folders, a non-square GeoTIFF with nodata and no band names, mostly short
sequences and one single-frame sequence."""

import json
import re

import numpy as np
import pytest
import rasterio
from cli import child_env, run_module
from PIL import Image
from real_export import NODATA, VIRIDIS_BACKGROUND, VIRIDIS_FIRE, write_real_export

from emberformer.data.organized_spreads.datamodule import FireSpreadData


@pytest.fixture
def export(tmp_path):
    return write_real_export(tmp_path / "organized_spreads", seed=0)


def single_frame_warning(seq_ids) -> str:
    """A one-line pattern: the skip warning names each skipped sequence, by id after the words
    (not inside a path) or by folder."""
    ids = "|".join(str(i) for i in seq_ids)
    return rf"single-frame(?:[^/\\\n]*\b(?:{ids})\b|[^\n]*sequence_0*(?:{ids})\b)"


def expected_static(truth) -> np.ndarray:
    """normalise_static's documented rule, computed here: per band min-max over valid pixels, binary
    bands unchanged, nodata -> 0."""
    bands, nodata = truth["landscape"].astype(np.float64), truth["nodata"]
    out = np.zeros(bands.shape)
    for c, kind in enumerate(truth["band_kinds"]):
        values = bands[c][~nodata[c]]
        if kind == "binary":
            out[c][~nodata[c]] = values
        else:
            out[c][~nodata[c]] = (values - values.min()) / (values.max() - values.min())
    return out


def test_the_fixture_is_shaped_like_the_real_export(export, decode_png):
    """Guards the fixture itself, so the reader test below really meets the export's quirks."""
    root, seqs = export["root"], export["sequences"]
    land = root / "landscape"
    history = (land / "WeatherHistory.csv").read_bytes().decode()
    assert history.count("\r\n") == len(seqs) and "WS" not in history  # CRLF, no header
    lines = history.splitlines()
    assert any(line.startswith("/home/") for line in lines) and any(line.startswith("C:\\") for line in lines)
    assert all(not (land / line).exists() for line in lines)  # nothing resolves as written
    assert all(s["weather_file"].name != f"Weather{i}.csv" for i, s in seqs.items())
    weather = seqs[1]["weather_file"].read_bytes().decode()
    assert weather.startswith("Instance,datetime,WS,WD,FireScenario\r\n")

    lengths = [len(s["fire"]) for s in seqs.values()]
    assert sum(n <= 6 for n in lengths if n >= 2) > len(export["usable"]) / 2 and max(lengths) >= 14
    assert export["skipped"] == [i for i, s in seqs.items() if len(s["fire"]) == 1] and export["skipped"]

    pocket = False
    for i, s in seqs.items():
        fire, iso = s["fire"], s["isochrones"]
        assert (fire[1:] >= fire[:-1]).all() and (iso >= fire).all()  # cumulative; iso a superset
        assert fire[0].mean() < 0.005 and fire[0].sum() >= 1  # a tiny ignition
        inner = ~fire[-1][1:-1, 1:-1]
        ring = fire[-1][:-2, 1:-1] & fire[-1][2:, 1:-1] & fire[-1][1:-1, :-2] & fire[-1][1:-1, 2:]
        pocket |= bool((inner & ring).any())
        folder = root / "fire_frames" / f"sequence_{i:04d}"
        assert sorted(p.name for p in folder.iterdir()) == [f"fire_{t:03d}.png" for t in range(len(fire))]
        assert sorted(p.name for p in (root / "isochrones" / f"sequence_{i:04d}").iterdir()) == [
            f"iso_{t:03d}.png" for t in range(len(fire))]
        with Image.open(folder / "fire_000.png") as im:
            assert im.mode == "RGBA"
            colours = set(map(tuple, np.asarray(im).reshape(-1, 4).tolist()))
        assert colours == {VIRIDIS_BACKGROUND, VIRIDIS_FIRE}
        np.testing.assert_array_equal(decode_png(folder / f"fire_{len(fire) - 1:03d}.png"), fire[-1])
    assert pocket, "no unburned pocket inside any burned area"
    assert any((s["isochrones"] != s["fire"]).any() for s in seqs.values())  # some isochrones run ahead

    with rasterio.open(land / "Input_Geotiff.tif") as src:
        assert src.height != src.width and src.dtypes[0] == "float32" and src.nodata == NODATA
        assert all(not d for d in src.descriptions)
        assert (src.read() == NODATA).any()


def test_real_export_reads_into_the_cache_as_written(export):
    data = FireSpreadData(str(export["root"]), val_fraction=0.15, test_fraction=0.15)
    with pytest.warns(UserWarning, match=single_frame_warning(export["skipped"])):
        data.setup()
    cache, seqs = data.cache, export["sequences"]

    assert [s.seq_id for s in cache.sequences] == export["usable"]
    assert sorted(sum(data.splits.values(), [])) == export["usable"]
    assert [s.seq_id for s in data.index.sequences] == export["usable"]
    for source in data.index.sequences:  # each absolute history line found the dataset's own copy
        assert source.weather == seqs[source.seq_id]["weather_file"], source.seq_id

    for seq_id in export["usable"]:
        truth = seqs[seq_id]
        n = len(truth["fire"])
        pos = cache.position(seq_id)
        entry = cache.sequences[pos]
        assert (entry.length, tuple(entry.window)) == (n, truth["window"]), seq_id
        np.testing.assert_array_equal(cache.fire(pos, 0, n), truth["fire"].astype(np.uint8), err_msg=f"fire {seq_id}")
        np.testing.assert_array_equal(cache.isochrones(pos, 0, n), truth["isochrones"].astype(np.uint8),
                                      err_msg=f"isochrones {seq_id}")
        np.testing.assert_array_equal(cache.weather(pos), truth["weather"][:n], err_msg=f"weather {seq_id}")

    # Static bands: the non-square landscape's crops, normalised, nodata -> 0, binary bands kept {0, 1}.
    c, h, w = export["landscape"].shape
    assert cache.band_names == tuple(f"band_{i}" for i in range(1, c + 1))
    assert data.inputs.static_channels == c
    expected, nodata = expected_static(export), export["nodata"]
    binary = [k for k, kind in enumerate(export["band_kinds"]) if kind == "binary"]
    crossed_nodata = False
    for seq_id in export["usable"]:
        y0, y1, x0, x1 = seqs[seq_id]["window"]
        static = cache.static(cache.position(seq_id))
        assert static.shape == (c, y1 - y0, x1 - x0) and static.dtype == np.float32
        np.testing.assert_allclose(static, expected[:, y0:y1, x0:x1], rtol=0, atol=1e-5, err_msg=f"static {seq_id}")
        holes = nodata[:, y0:y1, x0:x1]
        assert (static[holes] == 0).all()
        assert set(np.unique(static[binary])) <= {0.0, 1.0}
        assert static.min() >= 0 and static.max() <= 1
        crossed_nodata |= bool(holes.any())
    assert crossed_nodata
    # The window on the landscape's bottom-right edge reads the last row and column (end-exclusive).
    assert any(seqs[i]["window"][1] == h and seqs[i]["window"][3] == w for i in export["usable"])


@pytest.mark.slow
def test_documented_train_command_runs_on_the_real_export(export, tmp_path):
    run_dir, cache = tmp_path / "run", tmp_path / "train_cache"
    proc = run_module("emberformer.train", "data=organized_spreads", f"data.root={export['root']}", "hardware=cpu",
                      "debug=fast", "train.epochs=1", f"hydra.run.dir={run_dir}",
                      env=child_env(EMBERFORMER_CACHE=str(cache)))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data_line = next((line for line in proc.stdout.splitlines() if line.strip().startswith("Data:")), None)
    assert data_line is not None, proc.stdout[-3000:]
    assert f" {len(export['usable'])} sequences" in data_line, data_line
    assert str(cache) in data_line  # EMBERFORMER_CACHE was honoured
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "completed", result
    assert re.search(single_frame_warning(export["skipped"]), proc.stderr), proc.stderr[-3000:]
