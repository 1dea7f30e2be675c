"""The W&B workspace of the training guide's recommended dashboard, built and checked offline."""

import pytest
from cli import run_module

from emberformer.analysis.dashboard import build_workspace, describe_panels
from emberformer.analysis.panels import PANELS

GUIDE_LAYOUT = [
    ("Loss Components", ["train/loss_step", "train/bce_step", "train/dice_step"]),
    ("Validation Metrics", ["val/loss_epoch", "val/f1_epoch", "val/iou_epoch"]),
    ("Precision & Recall", ["val/prec_epoch", "val/rec_epoch"]),
    ("Early Stopping", ["early_stop/counter", "early_stop/best_value"]),
    ("Learning Rates", []),  # every train/lr_<group> key: metric_regex, below
    ("Images", ["val/preview"]),
]


def test_the_workspace_holds_the_six_guide_panels_in_order():
    view = build_workspace("emberformer", "an-entity")._to_model()  # what Workspace.save() would upload
    sections = view.spec.section.panel_bank_config.sections
    assert len(sections) == 1 and sections[0].is_open
    panels = sections[0].panels
    assert [(p.config.chart_title, list(p.config.metrics if hasattr(p.config, "metrics") else p.config.media_keys))
            for p in panels] == GUIDE_LAYOUT
    loss, *curves, images = panels
    rates = curves[-1].config
    assert (rates.metric_regex, rates.use_metric_regex) == (r"train/lr_\w+", True)
    loss_settings = (loss.config.smoothing_type, loss.config.smoothing_weight, loss.config.x_axis)
    assert loss_settings == ("exponential", 0.7, "_step")
    assert all(p.config.x_axis == "epoch" and p.config.smoothing_weight is None for p in curves)
    assert type(images).__name__ == "MediaBrowser"
    assert view.entity == "an-entity" and view.project == "emberformer"


def test_panel_list_is_printable():
    lines = describe_panels()
    assert len(lines) == len(PANELS) == 6
    assert lines[0] == ("(1) Loss Components [line vs step, smoothing 0.7]: "
                        "train/loss_step, train/bce_step, train/dice_step")
    assert lines[5] == "(6) Images [media]: val/preview"


@pytest.mark.slow
def test_offline_command_checks_the_layout_and_says_saving_needs_network():
    proc = run_module("emberformer.dashboard", "wandb.project=emberformer")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith('W&B workspace "EmberFormer training" for project emberformer: 6 panels')
    assert [line.strip() for line in lines[1:7]] == describe_panels()
    assert lines[-1].startswith("not saved (W&B mode is offline): saving a workspace needs network access")
