"""Evaluate a checkpoint on a split, next to persistence:
`python -m emberformer.evaluate ckpt=outputs/<date>/<time>/checkpoints/best.pt split=test`.

Two passes over the data: val, to find the threshold that maximises F1 there, then the chosen
split, scored at `pred_thresh` and at that val-best threshold, over all valid pixels and over
the pixels not burning in the last observed frame (newly burned area), overall and by history
length T. Writes `metrics.json`, `metrics.md`, `pr_curve.png` and `f1_by_history.png` into the
output folder (default `<run dir>/eval_<split>/`).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from emberformer import config as config_lib
from emberformer.errors import CheckpointError, ConfigError, DataError, exit_on_user_error
from emberformer.eval_metrics import FireEvaluation, growth_labels
from emberformer.metrics import metric_inputs
from emberformer.train import forward, to_device
from emberformer.training.checkpoint import load_checkpoint
from emberformer.training.hardware import Hardware

SPLITS = ("train", "val", "test")
VIEWS = {"all": "all pixels", "newly_burned": "newly burned"}
OPERATING_POINTS = {"pred_thresh": "pred_thresh", "val_best": "best F1 on val"}
RESULT_FILES = ("metrics.json", "metrics.md", "pr_curve.png", "f1_by_history.png")


# --------------------------------------------------------------------------------------------
# A trained model and its data, rebuilt from a checkpoint (also used by emberformer.predict)
# --------------------------------------------------------------------------------------------
@dataclass
class Trained:
    path: Path
    state: dict
    config: DictConfig
    data: object  # emberformer.data.datamodule.FireSpreadData, set up
    model: torch.nn.Module

    @property
    def run_dir(self) -> Path:
        """The training run's folder: the checkpoint's `checkpoints/` parent, else its own folder."""
        folder = self.path.resolve().parent
        return folder.parent if folder.name == "checkpoints" else folder

    @property
    def pred_thresh(self) -> float:
        return float(self.config.metrics.pred_thresh)


def load_trained(ckpt, device: str = "cpu", data_root: str | None = None) -> Trained:
    """Load a checkpoint, rebuild its data module (set up) and model (weights loaded, eval mode)."""
    if not ckpt:
        raise ConfigError("ckpt is required: pass ckpt=outputs/<date>/<time>/checkpoints/best.pt")
    path = Path(str(ckpt)).expanduser()
    state = load_checkpoint(path)
    cfg = OmegaConf.create(state["config"])
    if data_root:
        cfg.data.root = str(data_root)
    data = config_lib.build(cfg.data)
    data.setup()
    model = config_lib.build(cfg.model, in_static_channels=data.num_static_channels, wind_features=data.wind_features)
    try:
        loaded = model.load_state_dict(state["model"], strict=False)
        mismatches = (("missing", loaded.missing_keys), ("unexpected", loaded.unexpected_keys))
        problems = [f"{len(keys)} {kind} weights (e.g. {keys[0]})" for kind, keys in mismatches if keys]
    except RuntimeError as err:  # shape mismatches
        problems = [line.strip() for line in str(err).splitlines()[1:2]]
    if problems:
        raise CheckpointError(f"checkpoint {path}: its weights don't fit the model its config builds "
                              f"({'; '.join(problems)}); it was written by another version of emberformer's models")
    model.to(device).eval()
    return Trained(path, state, cfg, data, model)


def default_out_dir(trained: Trained, name: str) -> Path:
    """`<run dir>/<name>` for best.pt, `<run dir>/<name>_<checkpoint stem>` for any other checkpoint."""
    stem = trained.path.stem
    return trained.run_dir / (name if stem == "best" else f"{name}_{stem}")


# --------------------------------------------------------------------------------------------
# The passes
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def model_outputs(models: dict, loader, hardware: Hardware, desc: str):
    """Yield (batch on device, {model name: (probabilities, labels with padding ignored)})."""
    for batch in tqdm(loader, desc=desc, leave=False, dynamic_ncols=True):
        batch = to_device(batch, hardware.device)
        with hardware.autocast():
            logits = {name: forward(model, batch) for name, model in models.items()}
        yield batch, {name: metric_inputs(value, batch["target"], batch["pixel_mask"])
                      for name, value in logits.items()}


def val_best_thresholds(models: dict, loader, hardware: Hardware, pr_thresholds: int, prefer: float) -> dict:
    """{model name: (threshold, F1)} maximising F1 over all valid val pixels (ties: nearest `prefer`)."""
    curves = {name: FireEvaluation(pr_thresholds=pr_thresholds).to(hardware.device) for name in models}
    for _, outputs in model_outputs(models, loader, hardware, "val (threshold search)"):
        for name, (probs, labels) in outputs.items():
            curves[name].update(probs, labels)
    return {name: curve.best_threshold(prefer) for name, curve in curves.items()}


def score_split(models: dict, thresholds: dict, loader, hardware: Hardware, pr_thresholds: int,
                ece_bins: int) -> tuple[dict, dict]:
    """(per model and view metrics, per history length T {samples, per model metrics})."""

    def new_evaluation(name):
        return FireEvaluation(thresholds[name], pr_thresholds, ece_bins).to(hardware.device)

    overall = {name: {view: new_evaluation(name) for view in VIEWS} for name in models}
    by_length: dict[int, dict] = {}
    samples_by_length: dict[int, int] = {}
    for batch, outputs in model_outputs(models, loader, hardware, "evaluate"):
        last_fire = batch["fire"][:, -1:]
        lengths = batch["length"].to(last_fire.device)
        for name, (probs, labels) in outputs.items():
            overall[name]["all"].update(probs, labels)
            overall[name]["newly_burned"].update(probs, growth_labels(labels, last_fire))
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


def evaluate(ckpt, split: str = "test", out_dir=None, pred_thresh: float | None = None, pr_thresholds: int = 200,
             ece_bins: int = 15, batch_size: int | None = None, device: str = "auto", precision: str = "auto",
             num_workers: int = 0, data_root: str | None = None) -> tuple[dict, Path]:
    """Score a checkpoint and persistence on `split` and write the result files. Returns (results, out dir)."""
    if split not in SPLITS:
        raise ConfigError(f"split={split} must be one of {', '.join(SPLITS)}")
    if int(pr_thresholds) < 2 or int(ece_bins) < 1:
        raise ConfigError(f"pr_thresholds={pr_thresholds} must be >= 2 and ece_bins={ece_bins} >= 1")
    if pred_thresh is not None and not 0 < float(pred_thresh) < 1:
        raise ConfigError(f"pred_thresh={pred_thresh} must lie strictly between 0 and 1 (e.g. 0.5), or null")
    hardware = Hardware(device=device, precision=precision, num_workers=int(num_workers), persistent_workers=False)
    trained = load_trained(ckpt, hardware.device, data_root)
    results = evaluate_trained(trained, hardware, split, pred_thresh, pr_thresholds, ece_bins, batch_size)
    out = Path(out_dir) if out_dir else default_out_dir(trained, f"eval_{split}")
    write_results(results, out)
    return results, out


def evaluate_trained(trained: Trained, hardware: Hardware, split: str, pred_thresh: float | None = None,
                     pr_thresholds: int = 200, ece_bins: int = 15, batch_size: int | None = None) -> dict:
    """The results dict (see metrics.json) of a loaded model and persistence on `split`."""
    from emberformer.models import Persistence

    pred_thresh = trained.pred_thresh if pred_thresh is None else float(pred_thresh)
    batch_size = int(batch_size or trained.config.hardware.batch_size)
    data = trained.data
    if len(data.dataset(split)) == 0:
        raise DataError(f"split {split} of {data.root_path} has no samples (data.{split}_fraction="
                        f"{trained.config.data.get(f'{split}_fraction')}); evaluate another split=")

    name = type(trained.model).__name__
    models = {name: trained.model}
    if name != "Persistence":
        models["Persistence"] = Persistence().to(hardware.device)

    def loader(which):
        return data.loader(which, batch_size=batch_size, shuffle=False, num_workers=hardware.num_workers,
                           pin_memory=hardware.is_cuda)

    val_samples = len(data.dataset("val"))
    if val_samples:
        best = val_best_thresholds(models, loader("val"), hardware, pr_thresholds, pred_thresh)
    else:
        print(f"note: split val is empty; the val-best threshold falls back to pred_thresh={pred_thresh}",
              file=sys.stderr)
        best = {n: (pred_thresh, None) for n in models}
    thresholds = {n: {"pred_thresh": pred_thresh, "val_best": best[n][0]} for n in models}
    metrics, history = score_split(models, thresholds, loader(split), hardware, pr_thresholds, ece_bins)
    return {
        "checkpoint": str(trained.path),
        "epoch": trained.state.get("epoch"),
        "model": trained.model.describe(),
        "split": split,
        # Which data: `compare` reuses this evaluation only for the same source files.
        "data": {"root": str(data.root_path), "fingerprint": data.source_fingerprint()},
        "samples": len(data.dataset(split)),
        "sequences": data.splits[split],
        "val_samples": val_samples,
        "pred_thresh": pred_thresh,
        "pr_thresholds": int(pr_thresholds),
        "ece_bins": int(ece_bins),
        "models": {n: {"val_best_threshold": best[n][0], "val_best_f1": best[n][1], **metrics[n]} for n in models},
        "by_history_length": history,
        "wandb_run": {"id": trained.state.get("wandb_run_id"), "step": trained.state.get("step"),
                      **{k: trained.config.logger.get(k) for k in ("project", "entity", "group")}},
    }


# --------------------------------------------------------------------------------------------
# Tables and figures
# --------------------------------------------------------------------------------------------
def _fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}f}"


def summary_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    """The main table: one row per model, pixel selection and operating point."""
    header = ["model", "pixels", "threshold", "precision", "recall", "F1", "IoU", "accuracy", "AP", "ECE"]
    rows = []
    for name, per_model in results["models"].items():
        for view, view_label in VIEWS.items():
            scores = per_model[view]
            for point, point_label in OPERATING_POINTS.items():
                at = scores["at"][point]
                rows.append([name, view_label, f"{_fmt(at['threshold'], 2)} ({point_label})",
                             *(_fmt(at[k]) for k in ("prec", "rec", "f1", "iou", "acc")),
                             _fmt(scores["ap"]), _fmt(scores["ece"])])
    return header, rows


def history_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    """F1 (val-best threshold) and AP per history length T, all valid pixels."""
    names = list(results["models"])
    header = ["T", "samples", *(f"{n} F1" for n in names), *(f"{n} AP" for n in names)]
    rows = []
    for length, entry in results["by_history_length"].items():
        rows.append([length, str(entry["samples"]), *(_fmt(entry[n]["at"]["val_best"]["f1"]) for n in names),
                     *(_fmt(entry[n]["ap"]) for n in names)])
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_report(results: dict) -> str:
    thresholds = ", ".join(f"{n} {_fmt(m['val_best_threshold'], 3)}" for n, m in results["models"].items())
    return "\n".join([
        f"# {results['model']} (epoch {results['epoch']}) on the {results['split']} split",
        "",
        f"{results['samples']} samples from sequences {', '.join(map(str, results['sequences']))}; "
        f"checkpoint `{results['checkpoint']}`.",
        f"Thresholds: pred_thresh {results['pred_thresh']:g}; best F1 on val ({results['val_samples']} samples): "
        f"{thresholds}. AP and ECE don't depend on the threshold (PR grid of {results['pr_thresholds']}, "
        f"{results['ece_bins']} calibration bins). Padded pixels never count. \"newly burned\" scores only the "
        "pixels not burning in the last observed frame: a positive there is new fire, which persistence "
        "never predicts.",
        "",
        markdown_table(*summary_rows(results)),
        "",
        "## By history length T (all pixels, best-on-val threshold)",
        "",
        markdown_table(*history_rows(results)),
        "",
    ])


def plot_pr_curves(results: dict, path: Path) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global backend state, works headless

    fig = Figure(figsize=(10, 4.4), layout="constrained")
    for ax, (view, view_label) in zip(fig.subplots(1, 2), VIEWS.items(), strict=True):
        for (name, per_model), color in zip(results["models"].items(), ("tab:blue", "tab:gray"), strict=False):
            scores = per_model[view]
            if scores["pr_curve"] is None:
                continue
            curve = scores["pr_curve"]
            ax.plot(curve["recall"], curve["precision"], color=color, label=f"{name} (AP {_fmt(scores['ap'])})")
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


def write_results(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "metrics.md").write_text(markdown_report(results))
    plot_pr_curves(results, out / "pr_curve.png")
    plot_by_history(results, out / "f1_by_history.png")


def flat_summary(results: dict) -> dict:
    """`eval/<split>/<model>/<pixels>/<metric>[@<operating point>]` -> value, for a W&B run summary."""
    prefix = f"eval/{results['split']}"
    flat = {}
    for name, per_model in results["models"].items():
        flat[f"{prefix}/{name}/val_best_threshold"] = per_model["val_best_threshold"]
        for view in VIEWS:
            scores = per_model[view]
            flat.update({f"{prefix}/{name}/{view}/{k}": scores[k] for k in ("ap", "ece")})
            for point, at in scores["at"].items():
                flat.update({f"{prefix}/{name}/{view}/{k}@{point}": at[k] for k in ("prec", "rec", "f1", "iou", "acc")})
    return {k: v for k, v in flat.items() if v is not None}


def log_to_wandb(results: dict, out: Path, run=None, step: int | None = None) -> bool:
    """Log the tables, figures and summary to `run` (default: the active W&B run). False if none."""
    import wandb

    run = run or wandb.run
    if run is None:
        return False
    prefix = f"eval/{results['split']}"
    run.log({f"{prefix}/metrics": wandb.Table(*summary_rows(results)),
             f"{prefix}/by_history_length": wandb.Table(*history_rows(results)),
             f"{prefix}/pr_curve": wandb.Image(str(out / "pr_curve.png")),
             f"{prefix}/f1_by_history": wandb.Image(str(out / "f1_by_history.png"))}, step=step)
    run.summary.update(flat_summary(results))
    return True


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
@exit_on_user_error
def run(cfg: DictConfig) -> dict:
    results, out = evaluate(cfg.ckpt, split=cfg.split, out_dir=cfg.out_dir, pred_thresh=cfg.pred_thresh,
                            pr_thresholds=cfg.pr_thresholds, ece_bins=cfg.ece_bins, batch_size=cfg.batch_size,
                            device=cfg.device, precision=cfg.precision, num_workers=cfg.num_workers,
                            data_root=cfg.data_root)
    print(markdown_report(results))
    print(f"Wrote {', '.join(RESULT_FILES)} to {out}")
    if cfg.wandb.log:
        log_to_training_run(results, out, cfg.wandb.mode)
    return results


def log_to_training_run(results: dict, out: Path, mode: str) -> None:
    """Resume the training run's W&B run by id (offline without credentials/network) and log there."""
    from emberformer.training.wandb_logger import WandbLogger

    run_info = results["wandb_run"]
    logger = WandbLogger(project=run_info["project"] or "emberformer", entity=run_info["entity"], mode=mode,
                         group=run_info["group"], log_checkpoints=False)
    logger.start(out, {"evaluation": {k: results[k] for k in ("checkpoint", "split", "pred_thresh")}},
                 run_id=run_info["id"])
    # After the training's last step: a run resumed offline restarts its step count at 0, and
    # W&B drops rows logged below a run's current step when the two are synced together.
    step = None if logger.run is None else max(logger.run.step, (run_info["step"] or 0) + 1)
    logged = log_to_wandb(results, out, logger.run, step)
    logger.finish()
    print(f"W&B: logged to run {run_info['id'] or '(a new run)'}" if logged else "W&B: no run could be started")


@hydra.main(version_base="1.3", config_path=str(config_lib.CONFIG_DIR), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
