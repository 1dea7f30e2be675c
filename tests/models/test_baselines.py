"""Persistence: the reference every model is scored against."""

from __future__ import annotations

import torch
from model_batches import make_batch, run_model

from emberformer.models import LearningRates, Persistence


def test_persistence_predicts_the_last_observed_fire():
    batch = make_batch([2, 5], 5, 37, 53, dynamic=2)
    model = Persistence()
    logits = run_model(model, batch)
    assert logits.shape == (2, 1, 37, 53)
    torch.testing.assert_close((logits > 0).float(), batch["fire"][:, -1:])
    assert set(logits.unique().tolist()) == {-10.0, 10.0}
    assert list(model.parameters()) == [] and model.param_groups(LearningRates.same(1e-3), 0.01) == []
    model.on_epoch_start(1)
    assert model.describe() == "Persistence (last observed fire)"
