"""Used by the dashboard command (the W&B workspace) and the report command (the same panels drawn
offline): the one definition of the training guide's six dashboard panels.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PanelSpec:
    title: str
    keys: tuple[str, ...]
    kind: str = "line"        # line | media
    x: str = "epoch"          # epoch-level keys are plotted per epoch, step-level ones per optimizer step
    smoothing: float = 0.0    # exponential smoothing weight (W&B's slider)
    log_y: bool = False


PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("Loss Components", ("train/loss_step", "train/bce_step", "train/dice_step"), x="step", smoothing=0.7),
    PanelSpec("Validation Metrics", ("val/loss_epoch", "val/f1_epoch", "val/iou_epoch")),
    PanelSpec("Precision & Recall", ("val/prec_epoch", "val/rec_epoch")),
    PanelSpec("Early Stopping", ("early_stop/counter", "early_stop/best_value")),
    PanelSpec("Learning Rates", ("train/lr_temporal", "train/lr_spatial"), log_y=True),
    PanelSpec("Images", ("val/preview",), kind="media"),
)
