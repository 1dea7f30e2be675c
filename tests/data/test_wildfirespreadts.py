"""WildfireSpreadTS read as released: the fixture's files, both forms, the cache, the protocol, bad input."""

from __future__ import annotations

import datetime
import os
import shutil

import numpy as np
import pytest
import rasterio
import torch

from emberformer.data.generate.wildfirespreadts import CLOUDY_DAY
from emberformer.data.wildfirespreadts import WildfireSpreadTSData
from emberformer.data.wildfirespreadts.bands import ACTIVE_FIRE, BANDS, FEATURE_SETS, N_BANDS, selected_bands
from emberformer.data.wildfirespreadts.cache import Codec, choose_codec
from emberformer.data.wildfirespreadts.datamodule import FOLDS
from emberformer.data.wildfirespreadts.dataset import centre_window, target_days
from emberformer.data.wildfirespreadts.features import _turned
from emberformer.data.wildfirespreadts.reader import GEOTIFF, HDF5, read_fire, scan
from emberformer.errors import ConfigError, DataError


def data(root, **kw) -> WildfireSpreadTSData:
    return WildfireSpreadTSData(str(root), crop=kw.pop("crop", 48), **kw).setup()


def test_the_fixture_is_shaped_like_the_release(wsts_root):
    tifs = sorted(wsts_root.geotiff.glob("*/fire_*/*.tif"))
    assert {p.parent.parent.name for p in tifs} == {"2018", "2019", "2020", "2021"}
    with rasterio.open(tifs[0]) as src:
        assert (src.count, src.dtypes[0], src.crs.to_string(), src.res) == (23, "float32", "EPSG:32610", (375.0, 375.0))
        assert src.descriptions[0] == "M11" and src.descriptions[22] == "active fire" and src.height != src.width
        af = src.read(23)
    detected = af[np.isfinite(af)]
    assert detected.size and np.all((detected % 100 < 60) & (detected < 2400)) and np.isnan(af).any()  # hhmm, NaN


@pytest.mark.parametrize("form", [GEOTIFF, HDF5])
def test_both_forms_are_found_and_read(wsts_root, form):
    index = scan(getattr(wsts_root, form))
    assert index.form == form and len(index.fires) == 8
    fire = index.fires[0]
    days = read_fire(fire)
    assert days.shape == (len(fire.dates), N_BANDS, fire.height, fire.width) and days.dtype == np.float32
    assert np.isnan(days[CLOUDY_DAY, ACTIVE_FIRE]).all()  # the day without detections


def test_hdf5_form_holds_the_geotiffs_values_but_the_detection_minutes(wsts_root):
    tif, h5 = scan(wsts_root.geotiff).fires[0], scan(wsts_root.hdf5).fires[0]
    assert (tif.fire_id, tif.dates) == (h5.fire_id, h5.dates)
    from_tif, from_h5 = read_fire(tif), read_fire(h5)
    others = [b for b in range(N_BANDS) if b != ACTIVE_FIRE]
    np.testing.assert_array_equal(from_tif[:, others], from_h5[:, others])
    hhmm = from_tif[:, ACTIVE_FIRE]
    np.testing.assert_array_equal(from_h5[:, ACTIVE_FIRE], np.where(hhmm >= 100, hhmm // 100 * 100, np.nan))


@pytest.mark.parametrize("form", [GEOTIFF, HDF5])
def test_the_cache_gives_back_every_value_exactly_and_is_smaller_than_the_release(wsts_root, form):
    root = getattr(wsts_root, form)
    d = data(root)
    index = scan(root)
    for pos, fire in enumerate(index.fires):
        days = read_fire(fire)
        for band in range(N_BANDS):
            got = d.cache.read(pos, band, slice(0, len(days)), slice(None), slice(None))
            assert np.array_equal(got, days[:, band], equal_nan=True), (fire.name, band)
    cache_bytes = sum(p.stat().st_size for p in d.cache.path.iterdir())
    release_bytes = sum(p.stat().st_size for p in wsts_root.geotiff.rglob("*.tif"))
    assert cache_bytes < release_bytes  # compact: no larger than the (LZW) GeoTIFFs
    assert {c.codec.dtype for f in d.cache.fires for c in f.chunks} <= {"uint8", "int16", "uint16", "float32", "empty"}


def test_codecs_are_exact_and_pick_the_smallest_type():
    classes = np.array([[1, 17], [np.nan, 5]], dtype=np.float32)
    halves = np.append(np.arange(-100, 1400, 0.5), np.nan).astype(np.float32)  # medians of reflectances
    blocky = np.repeat(np.random.default_rng(0).uniform(270, 300, 300).astype(np.float32), 50)
    noise = np.random.default_rng(1).normal(size=70_000).astype(np.float32)
    few = np.array([0.123, 271.4567, np.nan, 0.123], dtype=np.float32)  # a handful of distinct values: a palette
    for values, dtype in ((classes, "uint8"), (few, "uint8"), (halves, "int16"), (blocky, "uint16"),
                          (noise, "float32"), (np.full(3, np.nan, np.float32), "empty")):
        codec, palette = choose_codec(values)
        assert codec.dtype == dtype
        if dtype != "empty":
            np.testing.assert_array_equal(codec.decode(codec.encode(values, palette), palette), values)
    assert choose_codec(halves)[0] == Codec("int16", 2, -32768) and choose_codec(few)[0].palette_size == 3


def test_wsts_folds_leave_one_year_out():
    assert len(FOLDS) == 12 and len(set(FOLDS)) == 12
    for train, val, test in FOLDS:
        assert sorted({*train, val, test}) == [2018, 2019, 2020, 2021] and list(train) == sorted(train)
    assert [sum(t == year for *_, t in FOLDS) for year in (2018, 2019, 2020, 2021)] == [3, 3, 3, 3]
    assert FOLDS[0] == ((2018, 2019), 2020, 2021)


def test_samples_need_consecutive_days_and_test_targets_start_at_day_five():
    days = [datetime.date(2020, 7, 1) + datetime.timedelta(days=k) for k in (0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11)]
    dates = tuple(d.isoformat() for d in days)
    # Day 4 (July 5) is missing: no window of T + 1 days may hold the gap.
    assert target_days(dates, 1, 1) == [1, 2, 3, 5, 6, 7, 8, 9, 10]
    assert target_days(dates, 3, 3) == [3, 7, 8, 9, 10]
    assert target_days(dates, 1, 5) == [5, 6, 7, 8, 9, 10]  # WSTS's test adjustment: T = 1..5 share targets


def test_a_missing_day_is_named_and_its_samples_left_out(wsts_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(wsts_root.geotiff, root)
    fire = sorted((root / "2018").iterdir())[0]
    day = sorted(fire.glob("*.tif"))[6]
    day.unlink()
    with pytest.warns(UserWarning, match=f"{fire}: 1 day\\(s\\) missing inside the fire \\({day.stem}\\)"):
        d = data(root, leading_days=2)
    assert all(j - 2 >= 6 or j < 6 for pos, j in d.dataset("train").samples if d.cache.fires[pos].fire_id
               == int(fire.name.split("_")[1]))


def test_test_images_are_cut_about_the_centre_to_a_multiple_of_32_as_wsts():
    assert centre_window(229, 223, 32) == (2, 226, 16, 208)  # offsets 2.5 and 15.5 round half to even
    assert centre_window(100, 70, 32) == (2, 98, 3, 67)
    assert centre_window(20, 70, 32) == (0, 20, 3, 67)  # smaller than 32: kept whole


def test_features_angles_and_land_cover(wsts_root):
    d = data(wsts_root.geotiff)
    batch = d.to_device("cpu")(next(iter(d.loader("val", batch_size=2))))
    names = d.inputs.dynamic_names
    assert batch["dynamic"].shape[2] == len(names) and batch["static"].shape[1] == len(d.inputs.static_names)
    sin, cos = (batch["dynamic"][:, :, names.index(f"wind_from_{k}")] for k in ("sin", "cos"))
    real = batch["pixel_mask"][:, 0][:, None].expand_as(sin)
    torch.testing.assert_close((sin**2 + cos**2)[real], torch.ones(int(real.sum())))
    land_cover = batch["static"][:, [i for i, n in enumerate(d.inputs.static_names) if n.startswith("land_cover_")]]
    assert set(land_cover.sum(1)[batch["pixel_mask"][:, 0]].unique().tolist()) == {1.0}  # one class a pixel
    assert not any(torch.isnan(batch[k]).any() for k in ("dynamic", "static", "fire", "target"))


def test_turned_angles_follow_the_pixels():
    wind = BANDS[7]  # compass, from north clockwise
    east = torch.tensor([90.0, 90.0, 90.0])
    aug = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1]])  # mirror left-right, up-down, a quarter turn left
    assert _turned(east, wind, aug).tolist() == [270.0, 90.0, 0.0]  # from the west, still east, from the north
    axis = BANDS[19]  # math angle from east, counter-clockwise
    north_east = torch.tensor([45.0, 45.0, 45.0])
    assert _turned(north_east, axis, aug).tolist() == [135.0, -45.0, 135.0]


def test_fold_statistics_come_from_the_training_years_only(wsts_root):
    d0, d6 = data(wsts_root.geotiff, fold=0), data(wsts_root.geotiff, fold=6)
    index = scan(wsts_root.geotiff)
    train = [f for f in index.fires if f.year in (2018, 2019)]
    speeds = np.concatenate([read_fire(f)[:, 6].ravel() for f in train])
    speeds = speeds[np.isfinite(speeds)]
    assert d0._stats[6].mean == pytest.approx(float(speeds.mean()), rel=1e-5)
    assert d0._stats[6].std == pytest.approx(float(speeds.std()), rel=1e-4)
    assert d6._stats[6].mean != pytest.approx(d0._stats[6].mean)


@pytest.mark.parametrize("features", ["vegetation", "multi", ["topography", "forecast"]])
def test_feature_sets_select_their_bands(wsts_root, features):
    d = data(wsts_root.geotiff, features=features)
    groups = FEATURE_SETS[features] if isinstance(features, str) else features
    assert {b.group for b in d.bands} == {*groups, "active_fire"}
    assert d.inputs.dynamic_names[-1] == "active_fire_hour"
    assert len(selected_bands("all")) == 23


@pytest.mark.parametrize(("edit", "message"), [
    ("band_count", r"fire_\d+/\d{4}-\d\d-\d\d\.tif: 22 bands, but a WildfireSpreadTS day has 23"),
    ("empty_year", r"2019: a year folder with no fires"),
    ("truncated", r"\.tif: unreadable"),
    ("neither", r"holds neither WildfireSpreadTS layout"),
    ("missing_root", r"does not exist"),
])
def test_bad_input_is_one_line_naming_the_file(wsts_root, tmp_path, edit, message):
    root = tmp_path / "copy"
    shutil.copytree(wsts_root.geotiff, root)
    first = sorted(root.glob("2018/fire_*/*.tif"))[0]
    if edit == "band_count":
        with rasterio.open(first) as src:
            profile, values = src.profile, src.read()[:22]
        profile.update(count=22)
        with rasterio.open(first, "w", **profile) as dst:
            dst.write(values)
    elif edit == "empty_year":
        for fire in (root / "2019").iterdir():
            shutil.rmtree(fire)
    elif edit == "truncated":
        first.write_bytes(first.read_bytes()[:300])
    elif edit == "neither":
        for year in root.iterdir():
            shutil.rmtree(year)
        (root / "notes.txt").write_text("x")
    elif edit == "missing_root":
        root = tmp_path / "nowhere"
    with pytest.raises(DataError, match=message) as err:
        data(root)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("kw", "message"), [
    ({"fold": 12}, "data.fold=12 must be one of WSTS's folds 0..11"),
    ({"features": "colours"}, "data.features=colours is not a feature set"),
    ({"features": ["weather", "soil"]}, "'soil' is not a band group"),
    ({"leading_days": 0}, "data.leading_days=0"),
])
def test_bad_config_is_one_line(kw, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        WildfireSpreadTSData(str(tmp_path), **kw)


@pytest.mark.parametrize("split", ["val", "train"])
def test_batches_leave_as_codes_and_decode_on_the_device_to_the_cached_values(wsts_root, split):
    from emberformer.data.wildfirespreadts.features import decode

    d = data(wsts_root.geotiff)
    ds = d.dataset(split)
    torch.manual_seed(0)
    items = [ds[i] for i in range(min(4, len(ds)))]  # samples of several fires: mixed codecs in one batch
    batch = d.collate(items)
    for k, band in enumerate(d.dynamic_bands):
        values = decode(batch["bands"][k], torch.device("cpu")).numpy()
        for i, item in enumerate(items):
            pos, j = ds.samples[i]
            y0, y1, x0, x1 = item["window"]
            expected = d.cache.read(pos, band.index, slice(j - d.leading_days, j), slice(y0, y1), slice(x0, x1))
            np.testing.assert_array_equal(values[i, :, :y1 - y0, :x1 - x0], expected, err_msg=band.name)
    assert any(entry["codes"].dtype != torch.float32 for entry in batch["bands"])  # not decoded in the workers


def test_hdf5_grid_is_rebuilt_from_its_centre(wsts_root):
    tif = WildfireSpreadTSData(str(wsts_root.geotiff), crop=48)
    h5 = WildfireSpreadTSData(str(wsts_root.hdf5), crop=48)
    fire_id = tif.splits["test"][0]
    (crs_a, grid_a), (crs_b, grid_b) = tif.georeference(fire_id), h5.georeference(fire_id)
    assert crs_a == crs_b == "EPSG:32610"
    np.testing.assert_allclose(grid_a, grid_b, atol=1e-3)


def test_a_cut_short_cache_is_named_and_rebuilt(wsts_root, tmp_path):
    first = data(wsts_root.geotiff, cache_dir=str(tmp_path))
    values = first.cache.path / "values.bin"
    expected = first.cache.read(0, 6, slice(0, 3), slice(None), slice(None))
    os.truncate(values, values.stat().st_size // 2)
    with pytest.warns(UserWarning, match="the cache is damaged .*values.bin holds .* bytes, its meta.json says"):
        again = data(wsts_root.geotiff, cache_dir=str(tmp_path))
    assert again.cache.built_s is not None
    np.testing.assert_array_equal(again.cache.read(0, 6, slice(0, 3), slice(None), slice(None)), expected)
