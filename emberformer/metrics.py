"""Thresholded segmentation metrics for fire masks (torchmetrics), padding excluded.

torchmetrics syncs metric state across DDP ranks on `compute()`, so epoch metrics are global.
"""

from __future__ import annotations

import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryF1Score,
    BinaryJaccardIndex,
    BinaryPrecision,
    BinaryRecall,
)

# Short names used in W&B keys (`val/f1_epoch`) and in the console line.
METRIC_NAMES = ("prec", "rec", "f1", "iou", "acc")
# The label of pixels that never count (padding; for some views, pixels outside the view): the
# metrics here, the evaluation's metrics and smp's losses all skip it as `ignore_index`.
IGNORE_INDEX = -1


def fire_metrics(pred_thresh: float = 0.5, sync_on_compute: bool = True) -> MetricCollection:
    """`sync_on_compute=False` for metrics that only one rank computes (a sync there would deadlock)."""
    kwargs = dict(threshold=pred_thresh, ignore_index=IGNORE_INDEX, sync_on_compute=sync_on_compute)
    return MetricCollection({
        "prec": BinaryPrecision(**kwargs),
        "rec": BinaryRecall(**kwargs),
        "f1": BinaryF1Score(**kwargs),
        "iou": BinaryJaccardIndex(**kwargs),
        "acc": BinaryAccuracy(**kwargs),
    })


def metric_inputs(logits: torch.Tensor, target: torch.Tensor, pixel_mask: torch.Tensor):
    """(probabilities, integer targets with padding marked ignored) for `MetricCollection.update`."""
    probs = torch.sigmoid(logits.detach().float())
    labels = torch.where(pixel_mask, target.long(), torch.full_like(target, IGNORE_INDEX, dtype=torch.long))
    return probs, labels
