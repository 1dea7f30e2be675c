"""The I/O benchmark: the PNG baseline builds the same samples, and the cache beats it."""

import json

import numpy as np

from emberformer.data import FireSpreadData
from emberformer.bench.io import main, measure_io, png_sample


def test_png_baseline_builds_the_same_samples(make_spreads):
    root = make_spreads(lengths=(4, 9), sizes=((21, 23),), distinct_isochrones=True)
    data = FireSpreadData(str(root), max_history=3, val_fraction=0, test_fraction=0).setup()
    ds = data.dataset("train")
    frames = {s.seq_id: s.frames for s in data.index.sequences}
    isochrones = {s.seq_id: s.isochrones for s in data.index.sequences}
    for i in range(len(ds)):
        cached, decoded = ds[i], png_sample(ds, frames, isochrones, i)
        for key in cached:
            np.testing.assert_array_equal(cached[key], decoded[key])


def test_measure_io_reports_a_cache_speedup(make_spreads, capsys):
    root = make_spreads(lengths=(12, 15), sizes=((48, 48),))
    result = measure_io(str(root), samples=30, repeats=2)
    assert result["samples"] == 30 and result["cache_built"]
    assert result["png_samples_per_s"] > 0 and result["cache_collated_samples_per_s"] > 0
    assert result["speedup"] > 1  # decoding 1-12 PNGs per sample vs unpacking bits

    main([str(root), "--samples", "5", "--repeats", "1"])
    printed = json.loads(capsys.readouterr().out)
    assert not printed["cache_built"] and printed["samples"] == 5  # the CLI reused the cache
