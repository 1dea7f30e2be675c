"""Every model option learns: the loss on one tiny batch falls by more than half."""

from __future__ import annotations

import pytest
import torch
from model_batches import TINY_SEGFORMER, TINY_TEMPORAL, make_batch, run_model, spec

from emberformer.models import EmberFormer, LearningRates, ResNetUNet

STEPS = 40


def emberformer(decoder: str, encoder: str | None = None, **kwargs) -> EmberFormer:
    spatial = {"decoder": decoder, "encoder": encoder, "segformer_config": TINY_SEGFORMER}
    return EmberFormer(spec(3), **TINY_TEMPORAL, spatial=spatial, **kwargs)


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: emberformer("segformer"), id="emberformer-segformer"),
        pytest.param(lambda: emberformer("segformer", skip_quiet_patches=True), id="emberformer-segformer-skip-quiet"),
        pytest.param(lambda: emberformer("unet", "resnet18"), id="emberformer-smp-unet"),
        pytest.param(lambda: emberformer("smp_segformer", "mit_b0"), id="emberformer-smp-segformer"),
        pytest.param(lambda: ResNetUNet(spec(3), history=1), id="unet-last-frame"),
    ],
)
def test_overfits_a_single_tiny_batch(build):
    model = build().train()
    batch = make_batch([3, 4], 4, 32, 32)
    optimizer = torch.optim.AdamW(model.param_groups(LearningRates.same(3e-3), 0.0))
    losses = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(run_model(model, batch), batch["target"])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    first, last = losses[0], min(losses[-5:])
    assert last < 0.5 * first, f"loss {first:.3f} -> {last:.3f}"
