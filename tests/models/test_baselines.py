"""Persistence and the U-Net baseline."""

from __future__ import annotations

import pytest
import torch
from model_batches import make_batch, run_model

from emberformer.errors import ConfigError
from emberformer.models import Persistence, UNetBaseline


def test_persistence_predicts_the_last_observed_fire():
    batch = make_batch([2, 5], 5, 37, 53)
    model = Persistence()
    logits = run_model(model, batch)
    assert logits.shape == (2, 1, 37, 53)
    torch.testing.assert_close((logits > 0).float(), batch["fire"][:, -1:])
    assert set(logits.unique().tolist()) == {-10.0, 10.0}
    assert list(model.parameters()) == [] and model.param_groups(1e-3, 1e-4, 0.01) == []
    model.on_epoch_start(1)
    assert model.describe() == "Persistence (last observed fire)"


@pytest.mark.parametrize("steps", [1, 20])
def test_unet_baseline_predicts_at_input_resolution(steps):
    model = UNetBaseline(in_static_channels=3).eval()
    with torch.no_grad():
        logits = run_model(model, make_batch([steps, 1], steps, 37, 53))
    assert logits.shape == (2, 1, 37, 53)
    assert model.describe() == "U-Net baseline (resnet18, last frame only)"


def test_unet_baseline_is_one_spatial_group_at_the_from_scratch_rate():
    model = UNetBaseline(in_static_channels=3)
    groups = model.param_groups(1e-3, 1e-5, 0.01)
    assert {g["name"] for g in groups} == {"spatial"} and {g["lr"] for g in groups} == {1e-3}
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))


def test_unet_baseline_sees_the_last_wind_only():
    model = UNetBaseline(in_static_channels=3).eval()
    batch = make_batch([4], 4, 32, 32)
    with torch.no_grad():
        reference = run_model(model, batch)
        batch["wind"][:, :-1] += 5.0
        assert torch.equal(run_model(model, batch), reference)
        batch["wind"][:, -1] += 5.0
        assert not torch.allclose(run_model(model, batch), reference)


def test_unknown_encoder_is_a_config_error():
    with pytest.raises(ConfigError, match="model.encoder='resnet9'"):
        UNetBaseline(in_static_channels=3, encoder="resnet9")
