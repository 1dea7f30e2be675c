"""Used by the dashboard command (the W&B workspace) and the report command (the same panels drawn
offline): the one definition of the training guide's six dashboard panels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PanelSpec:
    title: str
    keys: tuple[str, ...] = ()
    kind: str = "line"        # line | media
    x: str = "epoch"          # epoch-level keys are plotted per epoch, step-level ones per optimizer step
    smoothing: float = 0.0    # exponential smoothing weight (W&B's slider)
    log_y: bool = False
    key_pattern: str = ""     # a regular expression: every logged key it matches (the keys depend on the model)

    def keys_in(self, records: list[dict]) -> tuple[str, ...]:
        """The keys this panel plots from `records`: its own, or those that match its pattern."""
        if not self.key_pattern:
            return self.keys
        pattern = re.compile(self.key_pattern)
        return tuple(sorted({k for record in records for k in record if pattern.fullmatch(k)}))

    def label(self) -> str:
        """What the panel plots, for people: its keys, or its pattern."""
        return self.key_pattern or ", ".join(self.keys)


PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("Loss Components", ("train/loss_step", "train/bce_step", "train/dice_step"), x="step", smoothing=0.7),
    PanelSpec("Validation Metrics", ("val/loss_epoch", "val/f1_epoch", "val/iou_epoch")),
    PanelSpec("Precision & Recall", ("val/prec_epoch", "val/rec_epoch")),
    PanelSpec("Early Stopping", ("early_stop/counter", "early_stop/best_value")),
    # One line per parameter group (`train/lr_temporal` and `train/lr_spatial` for EmberFormer,
    # `train/lr_model` for a one-group baseline): each model logs the groups it trains.
    PanelSpec("Learning Rates", key_pattern=r"train/lr_\w+", log_y=True),
    PanelSpec("Images", ("val/preview",), kind="media"),
)
