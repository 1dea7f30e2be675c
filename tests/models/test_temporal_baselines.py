"""The WildfireSpreadTS baseline family: logistic, resnet18_unet, convlstm, utae."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from model_batches import make_batch, run_model, spec

from emberformer.config import compose
from emberformer.contract import build_model as build_for
from emberformer.errors import ConfigError
from emberformer.models import LearningRates

# Tiny widths so every model trains in a blink on CPU; resnet18_unet keeps its real encoder.
SMALL = {
    "logistic": [],
    "resnet18_unet": [],
    "convlstm": ["model.hidden=8", "model.encoder_channels=4", "model.head_channels=4"],
    "utae": ["model.widths=[8,8]", "model.heads=2", "model.key_dim=4", "model.head_channels=4"],
}
DESCRIPTIONS = {
    "logistic": "Logistic regression per pixel (last 4 frames)",
    "resnet18_unet": "U-Net (resnet18, last 5 frames)",
    "convlstm": "ConvLSTM (hidden 8, 1/4 resolution)",
    "utae": "U-TAE (widths [8, 8], 2-head L-TAE)",
}


def build_model(name: str, *overrides: str, dynamic: int = 0):
    cfg = compose([f"model={name}", *SMALL[name], *overrides])
    return build_for(cfg.model, spec(dynamic=dynamic))


@pytest.mark.parametrize("name", SMALL)
def test_forward_backward_at_odd_sizes(name):
    model = build_model(name)
    assert model.describe() == DESCRIPTIONS[name]
    logits = run_model(model, make_batch([2, 5], 5, 37, 53))
    assert logits.shape == (2, 1, 37, 53)
    logits.square().mean().backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), pname


@pytest.mark.parametrize("name", SMALL)
def test_param_groups_cover_every_parameter_once_at_the_from_scratch_rate(name):
    model = build_model(name)
    groups = model.param_groups(LearningRates(lr=1e-3, temporal=2e-3, spatial=1e-5), 0.01)
    # A 15-weight convex model gets its own, larger rate.
    own_rate, source = {"logistic": (0.05, "model.lr")}.get(name, (1e-3, "optimizer.lr"))
    assert {g["lr"] for g in groups} == {own_rate} and {g["lr_source"] for g in groups} == {source}
    assert {g["name"] for g in groups} == {"model"}
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    model.on_epoch_start(1)


def _padded(sample: dict, steps: int, height: int, width: int, seed: int = 1) -> dict:
    """`sample` (batch of 1) left-padded in time to `steps` and zero-padded bottom/right to
    height x width, as the collate would; the padded steps hold noise, which must be ignored."""
    gen = torch.Generator().manual_seed(seed)
    pad_t = steps - sample["fire"].shape[1]
    pad_hw = (0, width - sample["fire"].shape[-1], 0, height - sample["fire"].shape[-2])
    fire = torch.cat([torch.rand(1, pad_t, *sample["fire"].shape[-2:], generator=gen), sample["fire"]], dim=1)
    dynamic = sample["dynamic"]
    dynamic = torch.cat([torch.rand(1, pad_t, *dynamic.shape[2:], generator=gen), dynamic], dim=1)
    return {
        "fire": F.pad(fire, pad_hw),
        "dynamic": F.pad(dynamic, pad_hw),
        "static": F.pad(sample["static"], pad_hw),
        "wind": torch.cat([torch.randn(1, pad_t, 3, generator=gen), sample["wind"]], dim=1),
        "time_mask": torch.cat([torch.zeros(1, pad_t, dtype=torch.bool), sample["time_mask"]], dim=1),
    }


@pytest.mark.parametrize("dynamic", [0, 2])
@pytest.mark.parametrize("name", SMALL)
def test_padding_changes_nothing_on_the_real_pixels(name, dynamic):
    model = build_model(name, dynamic=dynamic).eval()
    sample = make_batch([3], 3, 37, 53, dynamic=dynamic)
    other = make_batch([5], 5, 40, 60, seed=2, dynamic=dynamic)
    padded = _padded(sample, 5, 40, 60)
    batch = {key: torch.cat([padded[key], other[key]]) for key in padded}
    with torch.no_grad():
        reference = run_model(model, sample)
        logits = run_model(model, batch)
    torch.testing.assert_close(logits[:1, :, :37, :53], reference, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", SMALL)
def test_loss_falls_when_overfitting_one_batch(name):
    model = build_model(name)
    batch = make_batch([3, 4], 4, 32, 32)
    optimizer = torch.optim.Adam(model.parameters(), lr={"logistic": 0.05, "resnet18_unet": 1e-3}.get(name, 1e-2))
    losses = []
    for _ in range(5 if name == "resnet18_unet" else 15):
        loss = F.binary_cross_entropy_with_logits(run_model(model, batch), batch["target"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.parametrize("name", SMALL)
def test_dynamic_bands_of_recent_steps_reach_the_prediction(name):
    # Per-day rasters (WildfireSpreadTS): every model reads them; the last step's always counts.
    model = build_model(name, dynamic=2).eval()
    batch = make_batch([3, 4], 4, 32, 32, dynamic=2)
    with torch.no_grad():
        reference = run_model(model, batch)
        batch["dynamic"][:, -1] += 1.0
        assert not torch.allclose(run_model(model, batch), reference)


def test_one_frame_unet_sees_the_last_wind_only():
    model = build_model("resnet18_unet", "model.history=1").eval()
    batch = make_batch([4], 4, 32, 32)
    with torch.no_grad():
        reference = run_model(model, batch)
        batch["wind"][:, :-1] += 5.0
        assert torch.equal(run_model(model, batch), reference)
        batch["wind"][:, -1] += 5.0
        assert not torch.allclose(run_model(model, batch), reference)


def test_history_longer_than_the_batch_reads_zeros_before_it():
    model = build_model("logistic", "model.history=6")
    with torch.no_grad():
        model.linear.weight[:, :6] = 1.0
        model.linear.weight[:, 6:] = 0.0
        model.linear.bias.zero_()
        batch = make_batch([2], 2, 8, 8)
        torch.testing.assert_close(run_model(model, batch), batch["fire"].sum(1, keepdim=True))


def test_convlstm_ignores_padded_steps_even_in_training_mode():
    model = build_model("convlstm")
    sample = make_batch([3], 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(run_model(model, _padded(sample, 6, 32, 32)), run_model(model, sample))


@pytest.mark.parametrize(
    ("name", "override", "match"),
    [
        ("logistic", "model.history=0", "model.history=0"),
        ("logistic", "model.lr=-1", "model.lr=-1 must be a learning rate"),
        ("resnet18_unet", "model.encoder=resnet9", "model.encoder='resnet9'"),
        ("convlstm", "model.hidden=0", "model.hidden=0"),
        ("utae", "model.widths=[8,5]", r"model.widths\[1\]=5 is not divisible by model.heads=2"),
        ("utae", "model.widths=[4,4,4,4,4,4]", "must list 1 to 5 widths"),
    ],
)
def test_bad_sizes_are_config_errors(name, override, match):
    with pytest.raises(ConfigError, match=match):
        build_model(name, override)


def test_logistic_regression_reaches_persistence_in_a_hundred_steps_at_its_own_rate():
    # At optimizer.lr (1e-3) its weights barely move in a short run: it predicted no fire.
    torch.manual_seed(0)
    model = build_model("logistic")
    optimizer = torch.optim.AdamW(model.param_groups(LearningRates.same(1e-3), 1e-4))
    batch = make_batch([3, 4, 5, 4], 5, 32, 32)
    for _ in range(100):
        loss = F.binary_cross_entropy_with_logits(run_model(model, batch), batch["target"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    target, last = batch["target"] > 0.5, batch["fire"][:, -1:] > 0.5
    predicted = run_model(model, batch) > 0

    def f1(pred):
        return (2 * (pred & target).sum() / (pred.sum() + target.sum())).item()

    assert f1(predicted) > 0.95 * f1(last)  # the burning area kept: at least persistence's skill
