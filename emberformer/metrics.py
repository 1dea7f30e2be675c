"""Every metric of a fire mask, padding excluded: what training logs and what evaluation adds.

Training (the loop, `fire_metrics`): precision, recall, F1, IoU and accuracy at one threshold over
all pixels, from torchmetrics, which syncs metric state across DDP ranks on `compute()`.

Evaluation (`FireEvaluation`, used by evaluate/compare/predict) adds what a threshold hides:
- AP (area under the binned precision-recall curve, as WildfireSpreadTS reports it) and the
  expected calibration error, neither of which depends on a threshold;
- the threshold that maximises F1 on val, applied to the evaluated split;
- the same metrics on the pixels NOT burning in the last observed frame (`growth_labels`), where a
  positive is newly burned area: the part of the target persistence cannot predict.
Every evaluation state is a fixed-size count, so memory stays flat however many pixels a split has.
"""

from __future__ import annotations

import math

import torch
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAveragePrecision,
    BinaryF1Score,
    BinaryJaccardIndex,
    BinaryPrecision,
    BinaryPrecisionRecallCurve,
    BinaryRecall,
)

from emberformer.contract import burning

# Points of a PR curve written into an evaluation's metrics.json.
CURVE_POINTS = 501
# Short names used in W&B keys (`val/f1_epoch`) and in the console line.
METRIC_NAMES = ("prec", "rec", "f1", "iou", "acc")
# The label of pixels that never count (padding; for some views, pixels outside the view): the
# metrics here and smp's losses all skip it as `ignore_index`.
IGNORE_INDEX = -1


def fire_metrics(pred_thresh: float = 0.5, sync_on_compute: bool = True) -> MetricCollection:
    """The METRIC_NAMES at `pred_thresh`. `sync_on_compute=False` for metrics that only one rank
    computes (a sync there would deadlock)."""
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


def growth_labels(labels: torch.Tensor, last_fire: torch.Tensor) -> torch.Tensor:
    """Metric labels restricted to the pixels not burning in the last observed frame.

    Pixels already burning are ignored, so a positive is a newly burned pixel (contract.newly_burned)
    and a negative one that stays unburned; padding stays ignored. `last_fire` is shaped like labels.
    """
    return labels.masked_fill(burning(last_fire), IGNORE_INDEX)


class BinnedAveragePrecision(BinaryAveragePrecision):
    """`BinaryAveragePrecision(thresholds=n)` (and its PR curve) with a one-pass update.

    The library fills its per-threshold confusion matrix by comparing every pixel with every
    threshold: n passes over the batch (or an n x pixels tensor), the slowest step of an
    evaluation. Each pixel's rank among the sorted thresholds, counted in one histogram per class,
    gives the same matrix: at threshold i the predicted positives are the pixels whose rank is
    above i. `compute()` (AP) and `curve()` are the library's own.
    """

    def update(self, probs: torch.Tensor, labels: torch.Tensor) -> None:
        keep = labels != self.ignore_index
        probs, positive = probs[keep].float(), labels[keep] == 1
        n = len(self.thresholds)
        # rank = how many thresholds are <= p, i.e. for which `p >= threshold` (the library's test).
        rank = torch.searchsorted(self.thresholds.to(probs.dtype), probs, right=True)
        pos_hist = torch.bincount(rank[positive], minlength=n + 1)
        neg_hist = torch.bincount(rank[~positive], minlength=n + 1)
        # Predicted positive at threshold i <=> rank > i: a reversed cumulative sum from rank i + 1.
        tp = pos_hist.flip(0).cumsum(0).flip(0)[1:]
        fp = neg_hist.flip(0).cumsum(0).flip(0)[1:]
        fn, tn = pos_hist.sum() - tp, neg_hist.sum() - fp
        self.confmat += torch.stack([torch.stack([tn, fp], -1), torch.stack([fn, tp], -1)], 1)

    def curve(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(precision, recall, thresholds) as `BinaryPrecisionRecallCurve.compute` gives them."""
        return BinaryPrecisionRecallCurve.compute(self)


class BinnedCalibrationError(Metric):
    """torchmetrics' `BinaryCalibrationError` (L1 norm, uniform bins) kept as per-bin sums.

    The library class stores every pixel's probability until `compute()`: a test split of real
    fires holds ~10^8 pixels, gigabytes per model. Per-bin counts and sums give the same value
    in constant memory (tests check it against the library).
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, n_bins: int = 15, ignore_index: int = IGNORE_INDEX, **kwargs):
        super().__init__(**kwargs)
        self.n_bins, self.ignore_index = int(n_bins), ignore_index
        # Like the library: bucketize(right=True) - 1 puts p == 1.0 into an extra last bin.
        for name in ("count", "prob_sum", "positive_sum"):
            self.add_state(name, torch.zeros(self.n_bins + 1, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, probs: torch.Tensor, labels: torch.Tensor) -> None:
        keep = labels != self.ignore_index
        probs, labels = probs[keep].float(), labels[keep]
        boundaries = torch.linspace(0, 1, self.n_bins + 1, device=probs.device, dtype=probs.dtype)
        bins = torch.bucketize(probs, boundaries, right=True) - 1
        self.count.index_add_(0, bins, torch.ones_like(probs, dtype=torch.float64))
        self.prob_sum.index_add_(0, bins, probs.double())
        self.positive_sum.index_add_(0, bins, (labels == 1).double())

    def compute(self) -> torch.Tensor:
        occupied = self.count > 0
        gap = (self.positive_sum[occupied] - self.prob_sum[occupied]).abs()  # = count * |accuracy - confidence|
        return (gap.sum() / self.count.sum()).float() if occupied.any() else torch.tensor(float("nan"))


def best_f1_threshold(precision: torch.Tensor, recall: torch.Tensor, thresholds: torch.Tensor,
                      prefer: float = 0.5) -> tuple[float, float]:
    """(threshold, F1) at the F1 maximum of a binned PR curve (torchmetrics' layout: precision and
    recall end with the extra (1, 0) point). Of equally good thresholds, the one nearest `prefer`
    wins: a model with hard 0/1 outputs (persistence) keeps the usual threshold."""
    p, r = precision[:-1].double(), recall[:-1].double()
    f1 = torch.nan_to_num(2 * p * r / (p + r), nan=0.0)
    ties = torch.nonzero(f1 >= f1.max() - 1e-12).flatten()
    best = int(ties[torch.argmin((thresholds[ties].double() - prefer).abs())])
    return float(thresholds[best]), float(f1[best])


class FireEvaluation:
    """All metrics of one model on one pixel selection.

    `thresholds` names the operating points for the thresholded metrics (precision, recall, F1,
    IoU, accuracy: `fire_metrics`, the training loop's own); AP, the PR curve
    and ECE don't depend on them. Labels use IGNORE_INDEX for pixels that don't count.
    """

    def __init__(self, thresholds: dict[str, float] | None = None, pr_thresholds: int = 10_000, ece_bins: int = 15):
        self.thresholds = dict(thresholds or {})
        self.thresholded = {name: fire_metrics(t) for name, t in self.thresholds.items()}
        self.curve = BinnedAveragePrecision(thresholds=pr_thresholds, ignore_index=IGNORE_INDEX)
        self.ece = BinnedCalibrationError(ece_bins)
        self.pixels = 0
        self.positives = 0

    def to(self, device) -> FireEvaluation:
        for metric in (*self.thresholded.values(), self.curve, self.ece):
            metric.to(device)
        return self

    def update(self, probs: torch.Tensor, labels: torch.Tensor) -> None:
        counted = labels != IGNORE_INDEX
        self.pixels += int(counted.sum())
        self.positives += int((labels == 1).sum())
        if not counted.any():
            return
        for metrics in self.thresholded.values():
            metrics.update(probs, labels)
        self.curve.update(probs, labels)
        self.ece.update(probs, labels)

    def best_threshold(self, prefer: float = 0.5) -> tuple[float, float]:
        """(threshold, F1) maximising F1 over the PR-curve grid of what was seen so far."""
        precision, recall, thresholds = self.curve.curve()
        return best_f1_threshold(precision, recall, thresholds, prefer)

    def compute(self, with_curve: bool = True) -> dict:
        """{"pixels", "positives", "ap", "ece", "at": {name: {threshold, prec, rec, f1, iou, acc}},
        "pr_curve": {precision, recall, thresholds}}; NaN (nothing counted) becomes None."""
        out: dict = {"pixels": self.pixels, "positives": self.positives, "ap": None, "ece": None,
                     "at": {name: {"threshold": t, **dict.fromkeys(METRIC_NAMES)}
                            for name, t in self.thresholds.items()}}
        if with_curve:
            out["pr_curve"] = None
        if self.pixels == 0:
            return out
        for name, metrics in self.thresholded.items():
            out["at"][name].update({k: _finite(v) for k, v in metrics.compute().items()})
        out["ap"] = _finite(self.curve.compute())
        out["ece"] = _finite(self.ece.compute())
        if with_curve:
            precision, recall, thresholds = self.curve.curve()
            # At most CURVE_POINTS points are kept (for the plot): a fine AP grid, a readable file.
            points = min(len(thresholds), CURVE_POINTS)
            keep = torch.unique(torch.linspace(0, len(thresholds) - 1, points).round().long())
            out["pr_curve"] = {"precision": [round(float(v), 6) for v in precision[keep]] + [1.0],
                               "recall": [round(float(v), 6) for v in recall[keep]] + [0.0],
                               "thresholds": [round(float(v), 6) for v in thresholds[keep]]}
        return out


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
