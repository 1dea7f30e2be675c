"""Rollouts: alignment with the truth, feedback modes, batched chains, and the split's scores by lead time."""

import numpy as np
import pytest
import torch
from fires import growing_fire

from emberformer.analysis.rollouts import rollout_chains, score_rollouts
from emberformer.contract import InputSpec
from emberformer.data.organized_spreads.datamodule import FireSpreadData
from emberformer.models import ConvLSTMBaseline, Persistence


def test_persistence_rollout_holds_the_origin_and_aligns_truth_with_steps():
    seq = growing_fire()
    result, = rollout_chains(Persistence(), seq, [2], steps=4, max_history=2, pred_thresh=0.5)
    assert result.frames == [3, 4, 5, 6]
    assert np.array_equal(result.truth, seq["isochrones"][3:7])
    assert np.array_equal(result.observed, seq["fire_frames"][2])
    # Persistence fed its own output: every step repeats the last observed frame.
    assert all(np.array_equal(frame, seq["fire_frames"][2]) for frame in result.forecast)


def test_probability_feedback_keeps_probabilities_and_monotonic_joins_the_previous_frame():
    seq = growing_fire()
    burning = seq["fire_frames"][1] > 0

    def roll(**kwargs):
        return rollout_chains(Persistence(), seq, [1], steps=2, max_history=4, pred_thresh=0.5, **kwargs)[0]

    soft = roll(mode="prob", monotonic=False)
    low, high = np.unique(soft.forecast)
    assert 0 < low < 1e-3 and 1 - 1e-3 < high < 1  # sigmoid(-10), sigmoid(10): fed back as they are
    joined = roll(mode="prob")
    assert (joined.forecast[0][burning] == 1).all()  # burned area never shrinks below the observed frame
    assert np.array_equal(joined.forecast[0][~burning], soft.forecast[0][~burning])
    assert set(np.unique(roll(mode="threshold").forecast)) == {0.0, 1.0}


def test_chains_batched_together_give_what_each_gives_alone():
    # ConvLSTM reads the whole (left-padded) history: a padding or wind misalignment in the
    # batched path would change its output. Chains end where the sequence has no truth left.
    torch.manual_seed(0)
    model = ConvLSTMBaseline(InputSpec(static_names=("a", "b", "c"), wind_names=("s", "sin", "cos"))).eval()
    seq = growing_fire(n=8)
    origins = list(range(7))
    together = rollout_chains(model, seq, origins, steps=3, max_history=4, pred_thresh=0.5, mode="prob", batch_size=4)
    assert [len(r.frames) for r in together] == [3, 3, 3, 3, 3, 2, 1]
    for t0, batched in zip(origins, together, strict=True):
        alone, = rollout_chains(model, seq, [t0], steps=3, max_history=4, pred_thresh=0.5, mode="prob")
        assert batched.frames == alone.frames == list(range(t0 + 1, t0 + 1 + len(alone.frames)))
        np.testing.assert_allclose(batched.probs, alone.probs, atol=1e-5)


def test_split_scores_by_lead_time_match_hand_counts_for_persistence():
    data = FireSpreadData()
    data.setup()
    scores = score_rollouts({"Persistence": (Persistence(), 0.5)}, data, "test", steps=6)["Persistence"]
    assert [entry["lead"] for entry in scores] == [1, 2, 3, 4, 5, 6]
    # Every next-step sample of the split is one forecast at lead 1.
    assert scores[0]["forecasts"] == len(data.dataset("test"))
    for lead, entry in enumerate(scores, start=1):
        tp = fp = fn = 0
        for seq_id in data.splits["test"]:
            seq = data.sequence(seq_id)
            for t0 in range(len(seq["fire_frames"]) - lead):
                held, truth = seq["fire_frames"][t0] > 0, seq["isochrones"][t0 + lead] > 0
                tp, fp, fn = tp + (held & truth).sum(), fp + (held & ~truth).sum(), fn + (~held & truth).sum()
        assert entry["all"]["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-5)
        assert entry["newly_burned"]["f1"] == 0.0  # holding the origin never finds new fire
    assert scores[0]["all"]["f1"] > scores[-1]["all"]["f1"]
