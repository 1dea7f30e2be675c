"""Paired statistics over test fires: per-fire counts, pooled scores, the bootstrap and its verdicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.classification import BinaryAveragePrecision

from emberformer.analysis.paired import PerSequence, average_over_jobs, average_precision, f1, paired_difference


def fires(seed: int, skill: float, n_fires: int = 20, pixels: int = 400) -> PerSequence:
    """Per-fire scores of a model whose probabilities separate fire from no fire by `skill`."""
    gen = torch.Generator().manual_seed(seed)
    labels = (torch.rand(n_fires, 1, 1, pixels, generator=gen) < 0.2).long()
    noise = torch.rand(n_fires, 1, 1, pixels, generator=gen)
    probs = ((1 - skill) * noise + skill * labels).clamp(0, 1)
    scores = PerSequence()
    scores.add("m/newly_burned", range(n_fires), probs, labels, 0.5)
    return scores


def test_pooled_ap_and_f1_are_the_evaluations_own():
    torch.manual_seed(0)
    probs = torch.rand(6, 1, 20, 20)
    labels = (torch.rand(6, 1, 20, 20) < probs * 0.5).long()
    labels[0, 0, :2] = -1  # padding: never counted
    scores = PerSequence()
    scores.add("m", [1, 1, 2, 3, 3, 3], probs, labels, 0.5)
    pooled = sum(scores.hist["m"].values())
    reference = BinaryAveragePrecision(thresholds=1000, ignore_index=-1)(probs, labels).item()
    assert average_precision(pooled[None])[0] == pytest.approx(reference, abs=1e-6)
    counted = labels != -1
    predicted, positive = (probs > 0.5) & counted, (labels == 1)
    tp = int((predicted & positive).sum())
    expected = 2 * tp / (2 * tp + int((predicted & ~positive).sum()) + int((~predicted & positive).sum()))
    assert f1(sum(scores.counts["m"].values())) == pytest.approx(expected)


def test_identical_models_are_level():
    a = fires(0, 0.3).hist["m/newly_burned"]
    result = paired_difference(a, a, average_precision)
    assert (result["difference"], result["low"], result["high"], result["verdict"]) == (0.0, 0.0, 0.0, "level")
    assert result["fires"] == 20


def test_a_model_better_on_every_fire_is_ahead_and_the_other_behind():
    better, worse = fires(0, 0.5), fires(0, 0.2)  # the same fires and noise, more skill
    for key, score in (("hist", average_precision), ("counts", f1)):
        a, b = getattr(better, key)["m/newly_burned"], getattr(worse, key)["m/newly_burned"]
        ahead, behind = paired_difference(a, b, score), paired_difference(b, a, score)
        assert ahead["verdict"] == "ahead" and ahead["low"] > 0
        assert behind["verdict"] == "behind" and behind["high"] < 0
        assert ahead["difference"] == pytest.approx(-behind["difference"])


def test_noise_alone_is_level():
    a, b = fires(1, 0.3).hist["m/newly_burned"], fires(2, 0.3).hist["m/newly_burned"]  # same skill, other draws
    assert paired_difference(a, b, average_precision)["verdict"] == "level"


def test_seeds_are_averaged_per_fire_and_only_shared_fires_are_paired():
    one, two = {1: np.array([2.0, 0, 0]), 2: np.array([4.0, 0, 0])}, {1: np.array([4.0, 2, 0])}
    averaged = average_over_jobs([one, two])
    np.testing.assert_array_equal(averaged[1], [3.0, 1, 0])
    np.testing.assert_array_equal(averaged[2], [4.0, 0, 0])  # scored by one seed only
    result = paired_difference(averaged, {1: np.array([1.0, 1, 1])}, f1)
    assert result["fires"] == 1
    assert paired_difference(one, {7: np.array([1.0, 0, 0])}, f1) is None
    # Fires without any fire pixel or prediction have no F1: nothing to compare, not an error.
    empty = {1: np.array([0.0, 0, 0]), 2: np.array([0.0, 0, 0])}
    assert paired_difference(empty, empty, f1) is None
