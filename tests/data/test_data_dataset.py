"""Expanding-window samples, max_history, collate padding/masks, feature normalisation, workers."""

import numpy as np
import pytest
import torch

from emberformer.data import FireSpreadData, WindStats, collate_spreads, encode_wind
from emberformer.data.organized_spreads.features import normalise_static
from emberformer.data.organized_spreads.reader import read_landscape, read_weather

LENGTHS = (2, 5, 25)
SIZES = ((37, 53), (20, 31), (12, 64))


@pytest.fixture
def spreads(make_spreads):
    return make_spreads(lengths=LENGTHS, sizes=SIZES, distinct_isochrones=True)


def all_train(root, **kw):
    return FireSpreadData(str(root), val_fraction=0, test_fraction=0, **kw).setup()


def unpacked(sample: dict, key: str) -> np.ndarray:
    """A sample's packed masks as uint8 {0, 1} [..., H, W]."""
    y0, y1, x0, x1 = sample["window"]
    return np.unpackbits(sample[key], axis=-1, count=x1 - x0)


def test_every_step_but_the_last_is_a_sample(spreads):
    ds = all_train(spreads).dataset("train")
    assert len(ds) == sum(n - 1 for n in LENGTHS)
    pairs = {(ds[i]["seq_id"], ds[i]["t"]) for i in range(len(ds))}
    assert pairs == {(s, t) for s, n in enumerate(LENGTHS, start=1) for t in range(n - 1)}


def test_sample_is_history_to_t_and_isochrone_at_t_plus_1(spreads, decode_png):
    data = all_train(spreads, max_history=30)
    ds = data.dataset("train")
    seqs = {s.seq_id: s for s in data.index.sequences}
    for i in range(len(ds)):
        sample = ds[i]
        seq, t = seqs[sample["seq_id"]], sample["t"]
        np.testing.assert_array_equal(unpacked(sample, "fire"), np.stack([decode_png(p) for p in seq.frames[:t + 1]]))
        np.testing.assert_array_equal(unpacked(sample, "target"), decode_png(seq.isochrones[t + 1]))
        assert sample["window"] == seq.window and sample["wind"].shape == (t + 1, 3)
        # Compact: 8 pixels a byte; the static bands travel as the window.
        assert sample["fire"].dtype == np.uint8 and sample["fire"].shape == (t + 1, seq.shape[0], -(-seq.shape[1] // 8))


def test_max_history_keeps_the_most_recent_frames(spreads, decode_png):
    data = all_train(spreads, max_history=3)
    ds = data.dataset("train")
    frames = {s.seq_id: s.frames for s in data.index.sequences}
    full_wind = {s.seq_id: data.sequence(s.seq_id)["wind"] for s in data.index.sequences}
    lengths = {}
    for i in range(len(ds)):
        s = ds[i]
        lengths[(s["seq_id"], s["t"])] = len(s["fire"])
        start = max(0, s["t"] - 2)
        expected = np.stack([decode_png(p) for p in frames[s["seq_id"]][start:s["t"] + 1]])
        np.testing.assert_array_equal(unpacked(s, "fire"), expected)
        np.testing.assert_array_equal(s["wind"], full_wind[s["seq_id"]][start:s["t"] + 1])
    assert lengths[(3, 0)] == 1 and lengths[(3, 1)] == 2 and lengths[(3, 2)] == 3 and lengths[(3, 23)] == 3


def test_collate_pads_time_left_and_space_bottom_right(spreads):
    data = all_train(spreads, max_history=4)
    ds = data.dataset("train")
    # seq 1 t=0 (1 frame, 37x53), seq 2 t=3 (4 frames, 20x31), seq 3 t=10 (4 frames, 12x64)
    picks = [ds[i] for i in (0, 4, 15)]
    assert [(p["seq_id"], p["t"]) for p in picks] == [(1, 0), (2, 3), (3, 10)]
    compact = collate_spreads(picks)
    # What crosses from the workers: packed uint8 masks and windows, no float image tensor.
    assert compact["fire"].shape == (3, 4, 37, 8) and compact["fire"].dtype == torch.uint8
    assert compact["target"].shape == (3, 1, 37, 8) and compact["target"].dtype == torch.uint8
    assert compact["window"].tolist() == [list(p["window"]) for p in picks] and "static" not in compact
    batch = data.to_device("cpu")(compact)

    assert batch["fire"].shape == (3, 4, 37, 64) and batch["fire"].dtype == torch.float32
    assert batch["static"].shape == (3, 4, 37, 64) and batch["wind"].shape == (3, 4, 3)
    assert batch["target"].shape == batch["pixel_mask"].shape == (3, 1, 37, 64)
    assert batch["length"].tolist() == [1, 4, 4] and batch["t"].tolist() == [0, 3, 10]
    assert batch["seq_id"].tolist() == [1, 2, 3]
    assert batch["time_mask"].tolist() == [[False, False, False, True], [True] * 4, [True] * 4]
    assert batch["time_mask"][:, -1].all()
    for i, p in enumerate(picks):
        n, h, w = unpacked(p, "fire").shape
        pos = data.cache.position(p["seq_id"])
        np.testing.assert_array_equal(batch["fire"][i, 4 - n:, :h, :w].numpy(), unpacked(p, "fire"))
        np.testing.assert_array_equal(batch["static"][i, :, :h, :w].numpy(), data.cache.static(pos))
        np.testing.assert_array_equal(batch["target"][i, 0, :h, :w].numpy(), unpacked(p, "target"))
        np.testing.assert_array_equal(batch["wind"][i, 4 - n:].numpy(), p["wind"])
        mask = batch["pixel_mask"][i, 0]
        assert mask[:h, :w].all() and int(mask.sum()) == h * w
        for key in ("fire", "static", "target"):  # padding is zero
            assert batch[key][i, ..., h:, :].abs().sum() == 0 and batch[key][i, ..., :, w:].abs().sum() == 0
    assert batch["fire"][0, :3].abs().sum() == 0 and batch["wind"][0, :3].abs().sum() == 0


def test_static_bands_in_unit_range_binary_untouched_nodata_zero(spreads):
    bands, valid = read_landscape(spreads / "landscape" / "Input_Geotiff.tif")
    normed, stats = normalise_static(bands, valid)
    assert normed.min() == 0 and normed.max() == 1
    for c in range(3):  # continuous bands span exactly [0, 1] over valid pixels
        assert normed[c][valid[c]].min() == 0 and normed[c][valid[c]].max() == 1
    np.testing.assert_array_equal(normed[3], bands[3])  # "water" is binary
    assert [s["binary"] for s in stats] == [False, False, False, True]
    assert (normed[0, :2, :3] == 0).all()  # nodata corner
    np.testing.assert_allclose(normed[0][valid[0]], (bands[0][valid[0]] - stats[0]["min"])
                               / (stats[0]["max"] - stats[0]["min"]), rtol=1e-6)


def test_wind_direction_is_circular_and_speed_uses_train_stats(make_spreads):
    enc = encode_wind(np.array([[10, 359], [10, 1], [10, 180]]), WindStats(10.0, 2.0))
    assert np.abs(enc[0] - enc[1]).max() < 0.04 and np.abs(enc[0] - enc[2]).max() > 1.9
    np.testing.assert_allclose(enc[:, 0], 0)

    root = make_spreads(lengths=(4, 6, 5, 7, 3, 8))
    data = FireSpreadData(str(root), val_fraction=0.2, test_fraction=0.2).setup()
    train = data.splits["train"]
    assert 0 < len(train) < 6
    raw = np.concatenate([read_weather(root / f"landscape/Weathers/Weather{i}.csv", n)
                          for i, n in zip(range(1, 7), (4, 6, 5, 7, 3, 8), strict=True) if i in train])
    assert data.wind_stats.speed_mean == pytest.approx(raw[:, 0].mean(), rel=1e-5)
    assert data.wind_stats.speed_std == pytest.approx(raw[:, 0].std(), rel=1e-5)
    speeds = np.concatenate([data.sequence(i)["wind"][:, 0] for i in train])
    assert abs(speeds.mean()) < 1e-5 and speeds.std() == pytest.approx(1, rel=1e-4)


def test_loader_with_two_workers_matches_in_process(spreads):
    data = all_train(spreads, max_history=5)
    serial = list(data.loader("train", batch_size=4, shuffle=False))
    parallel = list(data.loader("train", batch_size=4, shuffle=False, num_workers=2))
    assert len(serial) == len(parallel) == -(-sum(n - 1 for n in LENGTHS) // 4)
    for a, b in zip(serial, parallel, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key])


def test_train_loader_shuffles_reproducibly(spreads):
    data = all_train(spreads)
    order = [torch.cat([b["t"] * 100 + b["seq_id"] for b in data.loader("train", 5, seed=s)]) for s in (1, 1, 2)]
    assert torch.equal(order[0], order[1]) and not torch.equal(order[0], order[2])
    assert sorted(order[0].tolist()) == sorted(order[2].tolist())
