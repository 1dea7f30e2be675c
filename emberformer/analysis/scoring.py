"""Used by the evaluate and compare commands: a checkpoint scored on a split next to persistence,
and the result files written (`evaluate`).

Two passes over the data: val, to find the threshold that maximises F1 there, then the chosen
split, scored at `pred_thresh` and at that val-best threshold, over all valid pixels and over
the pixels not burning in the last observed frame (newly burned area), overall and by history
length T. Writes `metrics.json`, `metrics.md`, `pr_curve.png` and `f1_by_history.png` into the
output folder (default `<run dir>/eval_<split>/`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from emberformer.analysis.paired import FILE_NAME as PER_SEQUENCE_FILE
from emberformer.analysis.paired import PerSequence
from emberformer.analysis.rollouts import ROLLOUT_STEPS, score_rollouts
from emberformer.analysis.tables import VIEWS, format_score, markdown_report
from emberformer.analysis.trained import Trained, default_out_dir, load_trained
from emberformer.contract import predict_logits
from emberformer.errors import ConfigError, DataError
from emberformer.metrics import FireEvaluation, growth_labels, metric_inputs
from emberformer.training.hardware import Hardware

SPLITS = ("train", "val", "test")
RESULT_FILES = ("metrics.json", "metrics.md", "pr_curve.png", "f1_by_history.png", PER_SEQUENCE_FILE)
PERSISTENCE = "Persistence"  # the baseline's key in results["models"]
# The PR grid and calibration bins an evaluation uses unless told otherwise (compare reuses only these).
# 10,000 bins: AP within ~1e-4 of the exact (unbinned) AP that WildfireSpreadTS reports (tested).
PR_THRESHOLDS = 10_000
ECE_BINS = 15


# --------------------------------------------------------------------------------------------
# The passes
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def model_outputs(models: dict, loader, to_device, hardware: Hardware, desc: str):
    """Yield (batch on device, {model name: (probabilities, labels with padding ignored)});
    `to_device` is the data's DeviceBatches."""
    for batch in tqdm(loader, desc=desc, leave=False, dynamic_ncols=True):
        batch = to_device(batch)
        with hardware.autocast():
            logits = {name: predict_logits(model, batch) for name, model in models.items()}
        yield batch, {name: metric_inputs(value, batch["target"], batch["pixel_mask"])
                      for name, value in logits.items()}


def val_best_thresholds(models: dict, loader, to_device, hardware: Hardware, pr_thresholds: int,
                        prefer: float) -> dict:
    """{model name: (threshold, F1)} maximising F1 over all valid val pixels (ties: nearest `prefer`)."""
    curves = {name: FireEvaluation(pr_thresholds=pr_thresholds).to(hardware.device) for name in models}
    for _, outputs in model_outputs(models, loader, to_device, hardware, "val (threshold search)"):
        for name, (probs, labels) in outputs.items():
            curves[name].update(probs, labels)
    return {name: curve.best_threshold(prefer) for name, curve in curves.items()}


def score_split(models: dict, thresholds: dict, loader, to_device, hardware: Hardware, pr_thresholds: int,
                ece_bins: int, per_sequence: PerSequence) -> tuple[dict, dict]:
    """(per model and view metrics, per history length T {samples, per model metrics}); each test
    sequence's own counts go into `per_sequence` (for compare's paired statistics)."""

    def new_evaluation(name):
        return FireEvaluation(thresholds[name], pr_thresholds, ece_bins).to(hardware.device)

    overall = {name: {view: new_evaluation(name) for view in VIEWS} for name in models}
    by_length: dict[int, dict] = {}
    samples_by_length: dict[int, int] = {}
    for batch, outputs in model_outputs(models, loader, to_device, hardware, "evaluate"):
        last_fire = batch["fire"][:, -1:]
        lengths = batch["length"].to(last_fire.device)
        for name, (probs, labels) in outputs.items():
            growth = growth_labels(labels, last_fire)
            overall[name]["all"].update(probs, labels)
            overall[name]["newly_burned"].update(probs, growth)
            # Per fire, what compare pairs: the newly burned pixels.
            per_sequence.add(f"{name}/newly_burned", batch["seq_id"], probs, growth, thresholds[name]["val_best"])
        for length in lengths.unique().tolist():
            chosen = lengths == length
            samples_by_length[length] = samples_by_length.get(length, 0) + int(chosen.sum())
            per_model = by_length.setdefault(length, {name: new_evaluation(name) for name in models})
            for name, (probs, labels) in outputs.items():
                per_model[name].update(probs[chosen], labels[chosen])
    metrics = {name: {view: ev.compute() for view, ev in views.items()} for name, views in overall.items()}
    history = {str(length): {"samples": samples_by_length[length],
                             **{name: ev.compute(with_curve=False) for name, ev in by_length[length].items()}}
               for length in sorted(by_length)}
    return metrics, history


def evaluate(ckpt, split: str = "test", out_dir=None, pred_thresh: float | None = None,
             pr_thresholds: int = PR_THRESHOLDS, ece_bins: int = ECE_BINS, batch_size: int | None = None,
             device: str = "auto", precision: str = "auto", num_workers: int = 0,
             data_root: str | None = None, rollout_steps: int = ROLLOUT_STEPS) -> tuple[dict, Path]:
    """Score a checkpoint and persistence on `split` and write the result files. Returns (results, out dir)."""
    if split not in SPLITS:
        raise ConfigError(f"split={split} must be one of {', '.join(SPLITS)}")
    if int(pr_thresholds) < 2 or int(ece_bins) < 1:
        raise ConfigError(f"pr_thresholds={pr_thresholds} must be >= 2 and ece_bins={ece_bins} >= 1")
    if isinstance(rollout_steps, bool) or not isinstance(rollout_steps, int) or rollout_steps < 0:
        raise ConfigError(f"rollout_steps={rollout_steps} must be a whole number >= 0 (0: no rollouts)")
    if pred_thresh is not None and not 0 < float(pred_thresh) < 1:
        raise ConfigError(f"pred_thresh={pred_thresh} must lie strictly between 0 and 1 (e.g. 0.5), or null")
    hardware = Hardware(device=device, precision=precision, num_workers=int(num_workers), persistent_workers=False)
    trained = load_trained(ckpt, hardware.device, data_root)
    results, per_sequence = evaluate_trained(trained, hardware, split, pred_thresh, pr_thresholds, ece_bins,
                                             batch_size, rollout_steps)
    out = Path(out_dir) if out_dir else default_out_dir(trained, f"eval_{split}")
    write_results(results, out, per_sequence)
    return results, out


def evaluate_trained(trained: Trained, hardware: Hardware, split: str, pred_thresh: float | None = None,
                     pr_thresholds: int = PR_THRESHOLDS, ece_bins: int = ECE_BINS,
                     batch_size: int | None = None, rollout_steps: int = ROLLOUT_STEPS) -> tuple[dict, PerSequence]:
    """The results dict (see metrics.json) of a loaded model and persistence on `split`, and their
    scores per test sequence (per_sequence.npz); with `rollout_steps`, also both rolled forward from
    every origin of the split, fed their own output thresholded at their val-best threshold, scored at
    lead times 1..rollout_steps."""
    from emberformer.models import Persistence

    pred_thresh = trained.pred_thresh if pred_thresh is None else float(pred_thresh)
    batch_size = int(batch_size or trained.config.hardware.batch_size)
    data = trained.data
    if len(data.dataset(split)) == 0:
        raise DataError(f"split {split} of {data.root_path} has no samples (data.{split}_fraction="
                        f"{trained.config.data.get(f'{split}_fraction')}); evaluate another split=")

    name = type(trained.model).__name__
    models = {name: trained.model}
    if name != PERSISTENCE:
        models[PERSISTENCE] = Persistence().to(hardware.device)

    to_device = data.to_device(hardware.device)

    def loader(which):
        return data.loader(which, batch_size=batch_size, shuffle=False, num_workers=hardware.num_workers,
                           pin_memory=hardware.is_cuda)

    val_samples = len(data.dataset("val"))
    if val_samples:
        best = val_best_thresholds(models, loader("val"), to_device, hardware, pr_thresholds, pred_thresh)
    else:
        print(f"note: split val is empty; the val-best threshold falls back to pred_thresh={pred_thresh}",
              file=sys.stderr)
        best = {n: (pred_thresh, None) for n in models}
    thresholds = {n: {"pred_thresh": pred_thresh, "val_best": best[n][0]} for n in models}
    per_sequence = PerSequence()
    metrics, history = score_split(models, thresholds, loader(split), to_device, hardware, pr_thresholds, ece_bins,
                                   per_sequence)
    rollouts = None
    if rollout_steps:
        feedback = "mask at the val-best threshold" + (", monotonic" if data.cumulative else "")
        rollouts = {"steps": rollout_steps, "feedback": feedback,
                    "models": score_rollouts({n: (m, best[n][0]) for n, m in models.items()}, data, split,
                                             rollout_steps, hardware, batch_size, per_sequence)}
    return {
        "checkpoint": str(trained.path),
        "epoch": trained.state.get("epoch"),
        "model": trained.model.describe(),
        "split": split,
        # Which data: `compare` reuses this evaluation only for the same source files.
        "data": {"root": str(data.root_path), "benchmark": data.benchmark, "fingerprint": data.source_fingerprint()},
        "samples": len(data.dataset(split)),
        "sequences": data.splits[split],
        "val_samples": val_samples,
        "pred_thresh": pred_thresh,
        "pr_thresholds": int(pr_thresholds),
        "ece_bins": int(ece_bins),
        "models": {n: {"val_best_threshold": best[n][0], "val_best_f1": best[n][1], **metrics[n]} for n in models},
        "by_history_length": history,
        "rollouts": rollouts,
        "wandb_run": {"id": trained.state.get("wandb_run_id"), "step": trained.state.get("step"),
                      **{k: trained.config.logger.get(k) for k in ("project", "entity", "group")}},
    }, per_sequence


# --------------------------------------------------------------------------------------------
# Result files
# --------------------------------------------------------------------------------------------
def plot_pr_curves(results: dict, path: Path) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global backend state, works headless

    fig = Figure(figsize=(10, 4.4), layout="constrained")
    for ax, (view, view_label) in zip(fig.subplots(1, 2), VIEWS.items(), strict=True):
        for (name, per_model), color in zip(results["models"].items(), ("tab:blue", "tab:gray"), strict=False):
            scores = per_model[view]
            if scores["pr_curve"] is None:
                continue
            curve = scores["pr_curve"]
            ax.plot(curve["recall"], curve["precision"], color=color, label=f"{name} (AP {format_score(scores['ap'])})")
            for point, marker in (("pred_thresh", "o"), ("val_best", "*")):
                at = scores["at"][point]
                if at["rec"] is not None:
                    ax.plot(at["rec"], at["prec"], marker, color=color, markersize=9 if marker == "*" else 6)
        ax.set(title=f"{view_label} ({results['split']})", xlabel="recall", ylabel="precision",
               xlim=(0, 1.02), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8, title="o pred_thresh, * best on val", title_fontsize=8)
    fig.savefig(path, dpi=110)


def plot_by_history(results: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    history = results["by_history_length"]
    lengths = list(history)
    names = list(results["models"])
    fig = Figure(figsize=(max(6.0, 0.6 * len(lengths) * len(names) + 2), 4.4), layout="constrained")
    axes = fig.subplots(1, 2)
    width = 0.8 / len(names)
    for ax, (metric, label) in zip(axes, (("f1", "F1 (best-on-val threshold)"), ("ap", "AP")), strict=True):
        for i, (name, color) in enumerate(zip(names, ("tab:blue", "tab:gray"), strict=False)):
            values = [(history[t][name]["at"]["val_best"]["f1"] if metric == "f1" else history[t][name]["ap"]) or 0.0
                      for t in lengths]
            ax.bar([j + (i - (len(names) - 1) / 2) * width for j in range(len(lengths))], values, width,
                   color=color, label=name)
        ax.set_xticks(range(len(lengths)), [f"{t}\n(n={history[t]['samples']})" for t in lengths], fontsize=8)
        ax.set(title=f"{label} by history length", xlabel="history length T (samples)", ylim=(0, 1))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)


def write_results(results: dict, out: Path, per_sequence: PerSequence) -> None:
    out.mkdir(parents=True, exist_ok=True)
    per_sequence.save(out / PER_SEQUENCE_FILE)
    (out / "metrics.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "metrics.md").write_text(markdown_report(results))
    plot_pr_curves(results, out / "pr_curve.png")
    plot_by_history(results, out / "f1_by_history.png")
