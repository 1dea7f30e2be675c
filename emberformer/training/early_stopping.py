"""Early stopping on a monitored validation metric (the `early_stopping=` config group)."""

from __future__ import annotations

import math

from emberformer.errors import ConfigError, is_number, is_whole, require
from emberformer.metrics import METRIC_NAMES

# The validation pass's metrics over all pixels, and over the newly burned pixels (growth_*).
MONITORABLE = tuple(f"val/{name}" for name in ("loss", *METRIC_NAMES, "growth_prec", "growth_rec", "growth_f1",
                                               "growth_ap"))


class EarlyStopping:
    """Counts epochs without an improvement larger than `min_delta`; stops after `patience` of them.

    Written by hand rather than taken from Lightning: the loop is plain PyTorch, and the state
    (counter, best value, best epoch) must go into our own checkpoints and W&B keys.
    """

    def __init__(self, enabled: bool = True, patience: int = 10, min_delta: float = 0.001,
                 monitor: str = "val/f1", mode: str = "max"):
        require(is_whole(patience, 0),
                f"early_stopping.patience={patience} must be a whole number >= 0 (e.g. early_stopping.patience=10)")
        require(is_number(min_delta) and min_delta >= 0,
                f"early_stopping.min_delta={min_delta} must be >= 0 (e.g. early_stopping.min_delta=0.001)")
        require(mode in ("min", "max"), f"early_stopping.mode={mode} must be 'min' or 'max'")
        require(monitor in MONITORABLE,
                f"early_stopping.monitor={monitor} is not a logged metric; choose one of {', '.join(MONITORABLE)}")
        self.enabled, self.patience, self.min_delta = enabled, int(patience), float(min_delta)
        self.monitor, self.mode = monitor, mode
        self.best_value = -math.inf if mode == "max" else math.inf
        self.best_epoch = 0
        self.counter = 0

    def is_improvement(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.mode == "max":
            return value > self.best_value + self.min_delta
        return value < self.best_value - self.min_delta

    def step(self, value: float, epoch: int) -> bool:
        """Record this epoch's value; True when it is the new best (save best.pt then)."""
        if self.is_improvement(value):
            self.best_value, self.best_epoch, self.counter = float(value), epoch, 0
            return True
        self.counter += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.enabled and self.counter >= self.patience

    def describe(self) -> str:
        if not self.enabled:
            return f"disabled (best checkpoint still chosen by {self.monitor})"
        return f"enabled (patience={self.patience}, monitor={self.monitor})"

    def state_dict(self) -> dict:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch, "counter": self.counter,
                "monitor": self.monitor, "mode": self.mode}

    def load_state_dict(self, state: dict) -> None:
        if (state["monitor"], state["mode"]) != (self.monitor, self.mode):
            raise ConfigError(
                f"the checkpoint stopped early on {state['monitor']} ({state['mode']}) but the config monitors "
                f"{self.monitor} ({self.mode}); resume with early_stopping.monitor={state['monitor']} "
                f"early_stopping.mode={state['mode']}")
        self.best_value, self.best_epoch, self.counter = state["best_value"], state["best_epoch"], state["counter"]
