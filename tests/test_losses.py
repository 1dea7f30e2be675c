import pytest
import torch

from emberformer.errors import ConfigError
from emberformer.losses import BCEDiceLoss, BCELoss, FocalTverskyLoss

LOSSES = [BCELoss(pos_weight=2.0), BCEDiceLoss(0.5, 0.5), FocalTverskyLoss()]


def batch(seed=0, h=12, w=10):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 1, h, w, generator=g)
    target = (torch.rand(2, 1, h, w, generator=g) > 0.7).float()
    mask = torch.ones(2, 1, h, w, dtype=torch.bool)
    return logits, target, mask


@pytest.mark.parametrize("loss_fn", LOSSES, ids=lambda l: l.name)
def test_padded_pixels_do_not_change_the_loss(loss_fn):
    logits, target, mask = batch()
    plain, parts = loss_fn(logits, target, mask)
    # Pad to 16x16 with garbage logits/targets that the mask hides.
    pad = lambda x, v: torch.nn.functional.pad(x, (0, 6, 0, 4), value=v)  # noqa: E731
    padded, _ = loss_fn(pad(logits, 9.0), pad(target, 1.0), pad(mask, False))
    assert padded.item() == pytest.approx(plain.item(), rel=1e-5)
    assert all(torch.isfinite(v) for v in parts.values())


def test_bce_dice_is_the_weighted_sum_of_its_parts():
    logits, target, mask = batch(1)
    total, parts = BCEDiceLoss(0.3, 0.7)(logits, target, mask)
    assert set(parts) == {"bce", "dice"}
    assert total.item() == pytest.approx(0.3 * parts["bce"].item() + 0.7 * parts["dice"].item(), rel=1e-6)


def test_bce_matches_torch_on_an_unpadded_batch():
    logits, target, mask = batch(2)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, pos_weight=torch.tensor(2.0))
    assert BCELoss(2.0)(logits, target, mask)[0].item() == pytest.approx(expected.item(), rel=1e-6)


def test_perfect_prediction_has_near_zero_dice_and_tversky():
    _, target, mask = batch(3)
    logits = (target * 2 - 1) * 20
    assert BCEDiceLoss(0, 1)(logits, target, mask)[0].item() < 1e-3
    assert FocalTverskyLoss()(logits, target, mask)[0].item() < 1e-3


def test_auto_pos_weight_comes_from_the_positive_fraction():
    loss = BCELoss("auto")
    assert loss.needs_positive_fraction()
    loss.set_positive_fraction(0.2)
    assert loss.pos_weight == pytest.approx(4.0)
    loss.set_positive_fraction(1e-5)
    assert loss.pos_weight == 100.0  # capped


@pytest.mark.parametrize("make", [lambda: BCEDiceLoss(-0.1, 0.5), lambda: BCELoss(-1.0),
                                  lambda: FocalTverskyLoss(alpha=-1), lambda: BCEDiceLoss(0, 0)])
def test_invalid_weights_are_config_errors(make):
    with pytest.raises(ConfigError, match="loss"):
        make()
