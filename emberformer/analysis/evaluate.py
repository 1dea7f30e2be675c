"""Evaluate a checkpoint on a split, next to persistence:
`python -m emberformer.evaluate ckpt=outputs/<date>/<time>/checkpoints/best.pt split=test`.

Two passes over the data (`emberformer.analysis.scoring`): val, to find the threshold that
maximises F1 there, then the chosen split, scored at `pred_thresh` and at that val-best threshold,
over all valid pixels and over the pixels not burning in the last observed frame (newly burned
area), overall and by history length T. Then multi-step rollouts from every origin of the split
(`rollout_steps=6`; 0 skips them): F1 and newly burned F1 at lead times 1..6, each model fed its
own output. Writes `metrics.json`, `metrics.md`, `pr_curve.png` and `f1_by_history.png` into the
output folder (default `<run dir>/eval_<split>/`); with `wandb.log=true` logs them to the
training run's W&B run too.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from emberformer import config as config_lib
from emberformer.analysis.scoring import RESULT_FILES, evaluate
from emberformer.analysis.tables import VIEWS, history_rows, markdown_report, rollout_rows, summary_rows
from emberformer.errors import exit_on_user_error


# --------------------------------------------------------------------------------------------
# W&B
# --------------------------------------------------------------------------------------------
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
    for name, per_lead in (results.get("rollouts") or {"models": {}})["models"].items():
        for entry in per_lead:
            flat.update({f"{prefix}/{name}/rollout/{view}/f1@lead{entry['lead']}": entry[view]["f1"]
                         for view in VIEWS})
    return {k: v for k, v in flat.items() if v is not None}


def log_to_wandb(results: dict, out: Path, run=None, step: int | None = None) -> bool:
    """Log the tables, figures and summary to `run` (default: the active W&B run). False if none."""
    import wandb

    run = run or wandb.run
    if run is None:
        return False
    prefix = f"eval/{results['split']}"
    tables = {f"{prefix}/metrics": summary_rows(results), f"{prefix}/by_history_length": history_rows(results)}
    if results.get("rollouts"):
        tables[f"{prefix}/rollouts"] = rollout_rows(results)
    run.log({**{key: wandb.Table(*rows) for key, rows in tables.items()},
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
                            data_root=cfg.data_root, rollout_steps=cfg.rollout_steps)
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
