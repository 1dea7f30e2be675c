import math

import pytest

from emberformer.errors import ConfigError
from emberformer.training.early_stopping import EarlyStopping


def run(stopper, values):
    """Feed per-epoch values; return (stop epoch or None, best epoch)."""
    for epoch, value in enumerate(values, start=1):
        stopper.step(value, epoch)
        if stopper.should_stop:
            return epoch, stopper.best_epoch
    return None, stopper.best_epoch


def test_max_mode_stops_after_patience_epochs_without_improvement():
    values = [0.50, 0.60, 0.65, 0.6505, 0.64, 0.649, 0.60]  # 0.6505 is below min_delta
    assert run(EarlyStopping(patience=3, min_delta=0.001, mode="max"), values) == (6, 3)


def test_min_mode_tracks_the_lowest_value():
    values = [1.0, 0.8, 0.7, 0.71, 0.69995, 0.75, 0.9]
    stopper = EarlyStopping(patience=2, min_delta=0.001, mode="min", monitor="val/loss")
    assert run(stopper, values) == (5, 3)
    assert stopper.best_value == pytest.approx(0.7)


def test_improvement_resets_the_counter():
    stopper = EarlyStopping(patience=2, min_delta=0.0, mode="max")
    assert run(stopper, [0.1, 0.1, 0.2, 0.2, 0.3, 0.3]) == (None, 5)
    assert stopper.counter == 1


def test_disabled_never_stops_but_still_tracks_best():
    stopper = EarlyStopping(enabled=False, patience=1)
    assert run(stopper, [0.5, 0.4, 0.3, 0.2]) == (None, 1)


def test_nan_is_never_an_improvement():
    stopper = EarlyStopping(patience=1)
    stopper.step(0.5, 1)
    assert not stopper.step(math.nan, 2)
    assert stopper.should_stop


def test_state_round_trip_and_monitor_mismatch():
    a = EarlyStopping(patience=4)
    run(a, [0.3, 0.5, 0.4])
    b = EarlyStopping(patience=4)
    b.load_state_dict(a.state_dict())
    assert (b.best_value, b.best_epoch, b.counter) == (0.5, 2, 1)
    with pytest.raises(ConfigError, match="early_stopping.monitor=val/f1"):
        EarlyStopping(monitor="val/iou").load_state_dict(a.state_dict())
