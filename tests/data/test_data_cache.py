"""The decoded cache: equal to the PNGs, reused, rebuilt on any source change, never in the data folder."""

import os
import pickle

import numpy as np
import pytest

from emberformer.data import FireSpreadData
from emberformer.data.organized_spreads.layout import encode_mask
from emberformer.data.organized_spreads.reader import read_weather
from emberformer.errors import DataError


def setup(root, **kw):
    return FireSpreadData(str(root), val_fraction=0, test_fraction=0, **kw).setup()


def test_cache_equals_png_decode(make_spreads, decode_png):
    root = make_spreads(lengths=(2, 9, 25), sizes=((37, 53), (8, 9), (16, 17)), distinct_isochrones=True)
    data = setup(root)
    cache = data.cache
    for pos, seq in enumerate(data.index.sequences):
        assert cache.sequences[pos].seq_id == seq.seq_id
        frames = np.stack([decode_png(p) for p in seq.frames])
        np.testing.assert_array_equal(cache.fire(pos, 0, seq.length), frames)
        np.testing.assert_array_equal(cache.isochrones(pos, 0, seq.length),
                                      np.stack([decode_png(p) for p in seq.isochrones]))
        stop = min(5, seq.length)  # a slice starting mid-sequence lands on the right bytes
        np.testing.assert_array_equal(cache.fire(pos, 1, stop), frames[1:stop])
        np.testing.assert_array_equal(cache.weather(pos), read_weather(seq.weather, seq.length))


def test_cache_is_reused_then_rebuilt_when_a_png_changes(make_spreads, isolated_cache):
    root = make_spreads(lengths=(3, 4), sizes=((11, 13),))
    first = setup(root).cache
    assert first.built_s is not None and first.path.parent == isolated_cache

    again = setup(root).cache
    assert again.path == first.path and again.built_s is None

    png = root / "fire_frames" / "sequence_002" / "fire_frame_001.png"
    stat = png.stat()
    os.utime(png, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # touch: same bytes, new mtime
    touched = setup(root).cache
    assert touched.path != first.path and touched.built_s is not None

    changed = np.zeros((11, 13), bool)
    changed[2:5, 3:9] = True
    encode_mask(changed).save(png)
    data = setup(root)
    assert data.cache.path not in (first.path, touched.path)
    np.testing.assert_array_equal(data.sequence(2)["fire_frames"][1], changed)


def test_cache_dir_option_and_nothing_written_to_the_data_folder(make_spreads, tmp_path):
    root = make_spreads(lengths=(3, 4))
    before = sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*"))
    data = setup(root, cache_dir=str(tmp_path / "elsewhere"))
    assert data.cache.path.parent == tmp_path / "elsewhere"
    assert data.split_path.parent == data.cache.path
    assert sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*")) == before


def test_unusable_cache_dir_is_a_data_error(make_spreads, tmp_path):
    root = make_spreads(lengths=(3,))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(DataError, match=r"a_file.*can't create the cache.*data.cache_dir"):
        setup(root, cache_dir=str(blocker / "cache"))


def test_bit_packing_keeps_the_cache_small(make_spreads):
    root = make_spreads(lengths=(25,), sizes=((37, 53),))
    cache = setup(root).cache
    assert (cache.path / "fire.bin").stat().st_size < 25 * 37 * 53 / 7  # 1 bit per pixel


def test_isochrones_that_repeat_the_frames_are_stored_once(make_spreads, tmp_path, decode_png):
    same = setup(make_spreads(tmp_path / "same", lengths=(6, 4), sizes=((9, 10),))).cache
    assert (same.path / "isochrones.bin").stat().st_size == 0
    assert [s.isochrones_offset for s in same.sequences] == [None, None]
    distinct = setup(make_spreads(tmp_path / "distinct", lengths=(6, 4), sizes=((9, 10),), distinct_isochrones=True))
    assert (distinct.cache.path / "isochrones.bin").stat().st_size == (distinct.cache.path / "fire.bin").stat().st_size
    for data in (setup(tmp_path / "same"), distinct):
        for seq in data.index.sequences:
            pos = data.cache.position(seq.seq_id)
            np.testing.assert_array_equal(data.cache.isochrones(pos, 0, seq.length),
                                          np.stack([decode_png(p) for p in seq.isochrones]))


def test_cache_pickles_without_its_memmaps(make_spreads):
    root = make_spreads(lengths=(5,), sizes=((9, 10),))
    cache = setup(root).cache
    frames = cache.fire(0, 0, 5)
    clone = pickle.loads(pickle.dumps(cache))
    assert clone._arrays is None  # a worker opens its own
    np.testing.assert_array_equal(clone.fire(0, 0, 5), frames)


@pytest.mark.parametrize(("name", "cut"), [("fire.bin", 7), ("isochrones.bin", 1), ("landscape.npy", 200),
                                           ("weather.npy", 40), ("weather.npy", None)])
def test_a_damaged_cache_is_named_and_rebuilt(make_spreads, isolated_cache, name, cut):
    # A full disk or a killed copy leaves a file short (or gone): said once, rebuilt, read right.
    root = make_spreads(lengths=(3, 4), sizes=((11, 13),), distinct_isochrones=True)
    first = setup(root)
    expected = first.sequence(2)
    path = first.cache.path / name
    if cut is None:
        path.unlink()
    else:
        os.truncate(path, path.stat().st_size - cut)
    with pytest.warns(UserWarning, match=f"{first.cache.path}: the cache is damaged .*; rebuilding it"):
        rebuilt = setup(root)
    assert rebuilt.cache.path == first.cache.path and rebuilt.cache.built_s is not None
    for key in ("fire_frames", "isochrones", "static"):
        np.testing.assert_array_equal(rebuilt.sequence(2)[key], expected[key])
    assert sorted(p.name for p in isolated_cache.iterdir()) == [first.cache.path.name]  # nothing left aside
