"""FireSpreadData: splits by sequence, split reuse, config checks, per-sequence access, distributed loader."""

import json

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from emberformer.data import FireSpreadData, split_sequences
from emberformer.errors import ConfigError, DataError

LENGTHS = (3, 4, 5, 6, 2, 7, 3, 4, 5, 6)


@pytest.fixture
def spreads(make_spreads):
    return make_spreads(lengths=LENGTHS, sizes=((9, 11), (10, 13)))


def test_splits_are_disjoint_by_sequence_and_cover_everything(spreads):
    data = FireSpreadData(str(spreads), val_fraction=0.2, test_fraction=0.2, split_seed=3).setup()
    split = data.splits
    assert [len(split[k]) for k in ("train", "val", "test")] == [6, 2, 2]
    assert sorted(split["train"] + split["val"] + split["test"]) == list(range(1, 11))
    for name, ids in split.items():
        ds = data.dataset(name)
        assert {ds[i]["seq_id"] for i in range(len(ds))} == set(ids)  # no sequence straddles splits
        assert len(ds) == sum(LENGTHS[i - 1] - 1 for i in ids)


def test_split_is_saved_and_reused_when_it_matches(spreads):
    first = FireSpreadData(str(spreads), split_seed=5).setup()
    assert not first.split_reused and first.split_path.is_file()
    saved = json.loads(first.split_path.read_text())
    assert saved["params"] == {"val_fraction": 0.15, "test_fraction": 0.15, "seed": 5}

    # A hand-edited file that covers the same ids with the same parameters is honoured.
    saved["train"], saved["val"] = saved["train"][1:], sorted(saved["val"] + saved["train"][:1])
    first.split_path.write_text(json.dumps(saved))
    reused = FireSpreadData(str(spreads), split_seed=5).setup()
    assert reused.split_reused and reused.splits["val"] == saved["val"]

    # A file whose ids no longer match is replaced by a fresh split.
    saved["train"] = saved["train"][1:]
    first.split_path.write_text(json.dumps(saved))
    fresh = FireSpreadData(str(spreads), split_seed=5).setup()
    assert not fresh.split_reused and fresh.splits == first.splits

    other = FireSpreadData(str(spreads), split_seed=6).setup()
    assert other.split_path != first.split_path and other.splits != first.splits


@pytest.mark.parametrize("n, expected", [(1, (1, 0, 0)), (2, (1, 1, 0)), (3, (1, 1, 1)), (20, (14, 3, 3))])
def test_small_datasets_keep_train_and_a_sequence_per_nonzero_split(n, expected):
    split = split_sequences(list(range(1, n + 1)), 0.15, 0.15, seed=0)
    assert tuple(len(split[k]) for k in ("train", "val", "test")) == expected
    assert split == split_sequences(list(range(n, 0, -1)), 0.15, 0.15, seed=0)  # order of ids is irrelevant


@pytest.mark.parametrize("kwargs, key", [
    ({"max_history": 0}, "max_history"), ({"val_fraction": 1.0}, "val_fraction"),
    ({"test_fraction": -0.1}, "test_fraction"), ({"val_fraction": 0.5, "test_fraction": 0.5}, "val_fraction"),
    ({"max_sequences": 0}, "max_sequences"),
])
def test_bad_arguments_raise_config_error(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        FireSpreadData("/nowhere", **kwargs)


def test_setup_is_lazy_and_idempotent(spreads):
    data = FireSpreadData(str(spreads))
    assert data._cache is None  # __init__ does no I/O
    assert data.inputs.static_channels == 4  # properties set up on first use
    cache = data.cache
    assert data.setup().cache is cache
    assert data.static_band_names == ("elevation", "slope", "fuel_model", "water")
    assert data.inputs.wind_features == 3 and data.inputs.dynamic_channels == 0
    with pytest.raises(ConfigError, match="split 'dev'"):
        data.dataset("dev")


def test_positive_fraction_counts_target_pixels_of_the_split(spreads):
    data = FireSpreadData(str(spreads), val_fraction=0.2, test_fraction=0.2).setup()
    for split in ("train", "val"):
        ds = data.dataset(split)
        targets = [np.unpackbits(ds[i]["target"], axis=-1, count=ds[i]["window"][3] - ds[i]["window"][2])
                   for i in range(len(ds))]
        expected = sum(int(t.sum()) for t in targets) / sum(t.size for t in targets)
        assert 0 < expected < 1 and data.positive_fraction(split) == pytest.approx(expected)


def test_describe_is_one_line(spreads):
    text = FireSpreadData(str(spreads), max_history=6).describe()
    assert "\n" not in text
    for part in ("10 sequences", "train/val/test 6/2/2", "2-7 frames", "4 static bands", "max_history 6"):
        assert part in text


def test_sequence_gives_whole_arrays_for_forecasting(spreads, decode_png):
    data = FireSpreadData(str(spreads)).setup()
    seq = data.sequence(4)
    source = data.index.sequences[3]
    assert seq["fire_frames"].dtype == seq["isochrones"].dtype == np.uint8
    assert seq["fire_frames"].shape == seq["isochrones"].shape == (6, 10, 13)
    np.testing.assert_array_equal(seq["fire_frames"], np.stack([decode_png(p) for p in source.frames]))
    assert seq["static"].shape == (4, 10, 13) and seq["static"].dtype == np.float32
    assert seq["wind"].shape == (6, 3) and seq["wind"].dtype == np.float32
    assert seq["window"] == source.window
    with pytest.raises(DataError, match="no sequence 99"):
        data.sequence(99)


def test_max_sequences_keeps_the_first_n(spreads):
    data = FireSpreadData(str(spreads), max_sequences=3, val_fraction=0, test_fraction=0).setup()
    assert data.splits["train"] == [1, 2, 3]
    assert len(data.dataset("train")) == 2 + 3 + 4


def test_distributed_loader_uses_a_distributed_sampler(spreads, tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        data = FireSpreadData(str(spreads), val_fraction=0, test_fraction=0).setup()
        loader = data.loader("train", batch_size=8, distributed=True, seed=1)
        assert isinstance(loader.sampler, DistributedSampler)
        loader.sampler.set_epoch(0)
        seen = torch.cat([b["seq_id"] * 100 + b["t"] for b in loader])
        assert len(seen) == len(data.dataset("train")) and len(set(seen.tolist())) == len(seen)
    finally:
        dist.destroy_process_group()


def test_empty_split_loads_nothing(spreads):
    data = FireSpreadData(str(spreads), val_fraction=0.2, test_fraction=0)
    assert list(data.loader("test", batch_size=4)) == []


def test_default_root_is_the_embedded_dataset():
    data = FireSpreadData(max_sequences=2).setup()
    batch = data.to_device("cpu")(next(iter(data.loader("train", batch_size=2))))
    assert batch["static"].shape[1] == data.inputs.static_channels
    assert batch["dynamic"].shape == (*batch["fire"].shape[:2], 0, *batch["fire"].shape[2:])
    assert batch["fire"].shape[-2:] == batch["target"].shape[-2:]
