"""Used by the evaluate and compare commands: scores kept per test sequence (a fire), and the paired
comparison of two models on the same fires with a bootstrap confidence interval.

Every model of a comparison is scored on the same test fires, so their difference can be judged
fire by fire instead of by the spread of seeds. The evaluation keeps, per fire, what its pooled
scores are made of (`per_sequence.npz` beside metrics.json): the histogram of predicted
probabilities of its positive and negative pixels on a 1,000-bin grid (AP), and the true and false
positives and the false negatives at the val-best threshold (F1), for the newly burned pixels, and
their F1 counts for each rollout lead time. `compare` then, for two rows (models):
1. averages each fire's counts over the row's jobs (its seeds, and WildfireSpreadTS's folds whose
   test year holds the fire): a fire weighs the same whatever number of jobs scored it;
2. draws 2,000 bootstrap samples of the fires they share (with replacement), pools each sample's
   averaged counts and computes each model's AP and F1 from them, as the evaluation pools pixels;
3. reports the difference on all the fires, its 2.5th-97.5th percentile interval, and a verdict:
   ahead (the interval above 0), behind (below 0), level (it holds 0).
Written here: scipy.stats.bootstrap resamples observations of a statistic it calls per sample,
which for pooled AP would mean 2,000 Python calls per pair; a matrix of resample counts times the
per-fire histograms does all samples at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from emberformer.metrics import IGNORE_INDEX

PAIRED_BINS = 1000
BOOTSTRAP_SAMPLES = 2000
FILE_NAME = "per_sequence.npz"
VERDICTS = ("ahead", "level", "behind")


class PerSequence:
    """Per-sequence histograms and counts, accumulated batch by batch, keyed e.g. "EmberFormer/newly_burned"."""

    def __init__(self, bins: int = PAIRED_BINS):
        self.thresholds = torch.linspace(0, 1, bins)
        self.hist: dict[str, dict[int, np.ndarray]] = {}    # key -> seq -> [2, bins + 1]: negatives, positives
        self.counts: dict[str, dict[int, np.ndarray]] = {}  # key -> seq -> [tp, fp, fn]

    def add(self, key: str, seq_ids, probs: torch.Tensor, labels: torch.Tensor, threshold: float) -> None:
        """Probabilities and labels (IGNORE_INDEX: not counted) of a batch, sample i from sequence seq_ids[i]."""
        thresholds = self.thresholds.to(probs.device, probs.dtype)
        for i, seq in enumerate(int(s) for s in seq_ids):
            keep = labels[i] != IGNORE_INDEX
            p, positive = probs[i][keep].float(), labels[i][keep] == 1
            rank = torch.searchsorted(thresholds, p, right=True)  # thresholds <= p: the library's binned test
            hist = torch.stack([torch.bincount(rank[~positive], minlength=len(thresholds) + 1),
                                torch.bincount(rank[positive], minlength=len(thresholds) + 1)]).cpu().numpy()
            self.hist.setdefault(key, {}).setdefault(seq, np.zeros_like(hist))
            self.hist[key][seq] += hist
            self.count(key, seq, p > threshold, positive)

    def count(self, key: str, seq: int, predicted: torch.Tensor, positive: torch.Tensor) -> None:
        """True/false positives and false negatives of thresholded predictions of one sequence."""
        tp = int((predicted & positive).sum())
        counts = np.array([tp, int(predicted.sum()) - tp, int(positive.sum()) - tp], dtype=np.int64)
        self.counts.setdefault(key, {}).setdefault(int(seq), np.zeros(3, np.int64))
        self.counts[key][int(seq)] += counts

    def save(self, path: Path) -> None:
        arrays = {}
        for kind, table in (("hist", self.hist), ("counts", self.counts)):
            for key, per_seq in table.items():
                seqs = sorted(per_seq)
                arrays[f"{kind}|{key}|seq_ids"] = np.array(seqs, dtype=np.int64)
                arrays[f"{kind}|{key}"] = np.stack([per_seq[s] for s in seqs])
        np.savez_compressed(path, **arrays)


def load(path: Path) -> dict[str, dict[str, dict[int, np.ndarray]]]:
    """{"hist"|"counts": {key: {seq: array}}} from an evaluation's per_sequence.npz."""
    out: dict = {"hist": {}, "counts": {}}
    with np.load(path) as npz:
        for name in npz.files:
            kind, key, *rest = name.split("|")
            if not rest:
                out[kind][key] = dict(zip(npz[f"{name}|seq_ids"].tolist(), npz[name], strict=True))
    return out


def average_over_jobs(tables: list[dict[int, np.ndarray]]) -> dict[int, np.ndarray]:
    """Each sequence's arrays averaged over the jobs that scored it."""
    seqs = sorted({s for t in tables for s in t})
    return {s: np.mean([t[s] for t in tables if s in t], axis=0) for s in seqs}


def average_precision(hist: np.ndarray) -> np.ndarray:
    """AP from binned histograms [..., 2, bins + 1] (negatives, positives by rank), as torchmetrics'
    binned BinaryAveragePrecision computes it; NaN without positives."""
    negatives, positives = hist[..., 0, :], hist[..., 1, :]
    tp = np.flip(np.cumsum(np.flip(positives, -1), -1), -1)[..., 1:]  # predicted positive at threshold i: rank > i
    fp = np.flip(np.cumsum(np.flip(negatives, -1), -1), -1)[..., 1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(tp / (tp + fp), nan=0.0)
        recall = tp / positives.sum(-1, keepdims=True)
    ones, zeros = np.ones_like(precision[..., :1]), np.zeros_like(recall[..., :1])
    precision, recall = np.concatenate([precision, ones], -1), np.concatenate([recall, zeros], -1)
    return -np.sum((recall[..., 1:] - recall[..., :-1]) * precision[..., :-1], -1)


def f1(counts: np.ndarray) -> np.ndarray:
    """F1 from summed [..., 3] (tp, fp, fn); NaN without any positive or prediction."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        return 2 * tp / (2 * tp + fp + fn)


def paired_difference(first: dict[int, np.ndarray], second: dict[int, np.ndarray], score,
                      samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> dict | None:
    """score(first) - score(second) over their common sequences, pooled, with its bootstrap interval;
    `score` maps pooled arrays [n, ...] to n scores (average_precision or f1). None without common fires
    or without a finite score."""
    seqs = sorted(set(first) & set(second))
    if not seqs:
        return None
    a, b = np.stack([first[s] for s in seqs]), np.stack([second[s] for s in seqs])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(seqs), size=(samples, len(seqs)))
    weights = np.stack([np.bincount(d, minlength=len(seqs)) for d in draws]).astype(np.float64)  # [samples, fires]

    def pooled(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.tensordot(w, x, axes=(1, 0))

    everything = np.ones((1, len(seqs)))
    estimate = float(score(pooled(a, everything))[0] - score(pooled(b, everything))[0])
    differences = score(pooled(a, weights)) - score(pooled(b, weights))
    differences = differences[np.isfinite(differences)]
    if not differences.size:  # no positives (AP) or no predictions (F1) in any sample: nothing to compare
        return None
    low, high = (float(v) for v in np.percentile(differences, [2.5, 97.5]))
    verdict = "ahead" if low > 0 else "behind" if high < 0 else "level"
    return {"difference": estimate, "low": low, "high": high, "verdict": verdict, "fires": len(seqs),
            "samples": int(len(differences))}
