"""The training loop: one pass over a loader (`EpochRunner`), and `fit`, the epochs of a run.

`python -m emberformer.train` builds a `Run` (emberformer/training/run.py) and calls `fit(run)`;
`python -m emberformer.bench mode=loop` times the same `EpochRunner`. Read top to bottom: a
batch goes to the device, through the model and the loss, into the optimizer and the metrics;
after each epoch come validation, logging, checkpoints and early stopping.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from emberformer.contract import newly_burned, predict_logits
from emberformer.errors import EmberFormerError
from emberformer.metrics import IGNORE_INDEX, BinnedAveragePrecision, fire_metrics, growth_labels, metric_inputs
from emberformer.training.checkpoint import save_checkpoint, training_state
from emberformer.training.distributed import trainable_names
from emberformer.training.optim import group_lrs
from emberformer.viz import PREVIEW_LEGEND, preview_image


class NonFiniteLoss(EmberFormerError):
    pass


class TrainingInterrupted(Exception):
    """SIGINT/SIGTERM arrived: the loop saves last.pt and stops at the next batch boundary."""


# --------------------------------------------------------------------------------------------
# One pass over a loader
# --------------------------------------------------------------------------------------------
class EpochRunner:
    """Runs train or validation epochs and owns the step counter and step-level logging."""

    def __init__(self, model, loss_fn, optimizer, scaler, hardware, logger, dist_env, to_device, *, epochs: int,
                 pred_thresh: float = 0.5, grad_clip: float | None = None, nan_policy: str = "stop",
                 limit_train_batches: int | None = None, limit_val_batches: int | None = None,
                 log_metrics_every: int = 50, global_step: int = 0):
        self.model, self.loss_fn, self.optimizer, self.scaler = model, loss_fn, optimizer, scaler
        self.hardware, self.logger, self.dist = hardware, logger, dist_env
        self.to_device = to_device  # the data's compact batch -> a contract.Batch on the device
        self.epochs, self.pred_thresh, self.grad_clip, self.nan_policy = epochs, pred_thresh, grad_clip, nan_policy
        self.limits = {True: limit_train_batches, False: limit_val_batches}
        self.log_metrics_every = log_metrics_every
        self.global_step = global_step
        self.skipped_steps = 0

    def run(self, loader, epoch: int, training: bool) -> dict:
        trainable = training and self.optimizer is not None
        self.model.train(trainable)
        metrics = fire_metrics(self.pred_thresh).to(self.hardware.device)
        running = fire_metrics(self.pred_thresh, sync_on_compute=False).to(self.hardware.device)
        # Validation also scores the newly burned pixels alone (early_stopping=growth monitors them).
        growth = None if training else GrowthMetrics(self.pred_thresh).to(self.hardware.device)
        limit = self.limits[training]
        total = len(loader) if limit is None else min(len(loader), int(limit))
        sums = torch.zeros(3, dtype=torch.float64)  # loss * n, n, T-sum
        bar = tqdm(loader, total=total, desc=f"Epoch {epoch}/{self.epochs} [{'Train' if training else 'Val'}]",
                   disable=not self.dist.is_main, leave=True, dynamic_ncols=True)
        for i, batch in enumerate(bar):
            if i >= total:
                break
            batch = self.to_device(batch)
            with torch.set_grad_enabled(trainable), self.hardware.autocast():
                logits = predict_logits(self.model, batch)
                loss, parts = self.loss_fn(logits.float(), batch["target"], batch["pixel_mask"])
            if not torch.isfinite(loss):
                # A NaN in validation means the weights themselves are broken: skipping can't help there.
                if not training or self.nan_policy == "stop":
                    skipped = f", after skipping {self.skipped_steps} train steps" if self.skipped_steps else ""
                    raise NonFiniteLoss(
                        f"loss became {loss.item()} at epoch {epoch}, step {self.global_step} "
                        f"({'train' if training else 'val'} batch {i}{skipped}); best.pt is intact — lower "
                        f"optimizer.lr_temporal, keep train.grad_clip on, or set train.nan_policy=skip")
                self.skipped_steps += 1
                continue
            if trainable:
                self._optimize(loss)
            n = batch["target"].shape[0]
            sums += torch.tensor([loss.item() * n, n, batch["length"].float().sum().item()], dtype=torch.float64)
            probs, labels = metric_inputs(logits, batch["target"], batch["pixel_mask"])
            metrics.update(probs, labels)
            if growth is not None:
                growth.update(probs, growth_labels(labels, batch["fire"][:, -1:]))
            bar.set_postfix(loss=f"{sums[0] / sums[1]:.4f}")
            if training:
                running.update(probs, labels)
                self._log_step(loss, parts, batch, running)
        bar.close()
        sums = self.dist.sum(sums.to(self.hardware.device)).cpu()
        results = {name: value.item() for name, value in metrics.compute().items()}
        if growth is not None:
            results.update(growth.compute())
        results["loss"] = (sums[0] / sums[1].clamp_min(1)).item()
        results["T_avg"] = (sums[2] / sums[1].clamp_min(1)).item()
        return results

    def _optimize(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def _log_step(self, loss, parts: dict, batch: dict, running) -> None:
        self.global_step += 1
        if not self.dist.is_main:
            return
        record = {"train/loss_step": loss.item(), "train/batch_T_avg": batch["length"].float().mean().item()}
        record.update({f"train/{name}_step": value.item() for name, value in parts.items()})
        if self.global_step % self.log_metrics_every == 0:
            # Running averages since the start of the epoch (no sync: rank 0's view is enough here).
            record.update({f"train/{name}_step": value.item() for name, value in running.compute().items()})
        self.logger.log(record, step=self.global_step)


class GrowthMetrics:
    """Precision, recall, F1 and AP on the newly burned pixels (labels from metrics.growth_labels):
    `growth_<name>` in the results, `val/growth_<name>_epoch` in W&B. AP on a 1,000-bin grid: a
    monitor needs its ranking, not the evaluation's precision."""

    def __init__(self, pred_thresh: float):
        self.thresholded = fire_metrics(pred_thresh)
        self.ap = BinnedAveragePrecision(thresholds=1000, ignore_index=IGNORE_INDEX)

    def to(self, device) -> GrowthMetrics:
        self.thresholded.to(device)
        self.ap.to(device)
        return self

    def update(self, probs: torch.Tensor, labels: torch.Tensor) -> None:
        if bool((labels != IGNORE_INDEX).any()):
            self.thresholded.update(probs, labels)
            self.ap.update(probs, labels)

    def compute(self) -> dict[str, float]:
        values = {name: value.item() for name, value in self.thresholded.compute().items()
                  if name in ("prec", "rec", "f1")}
        values["ap"] = self.ap.compute().item()
        return {f"growth_{name}": value for name, value in values.items()}


def preview_samples(dataset, count: int) -> list[int]:
    """The `count` samples with the most newly burned pixels (ties: the first), the same every epoch:
    the first samples of a split are often a fire of a few cells at T = 1, where nothing shows."""
    return sorted(range(len(dataset)), key=lambda i: (-dataset.newly_burned(i), i))[:count]


@torch.no_grad()
def val_previews(model, dataset, indices: list[int], to_device, collate, hardware,
                 threshold: float) -> tuple[list[np.ndarray], list[str]]:
    """History | target | prediction | errors of the new fire, for the validation samples `indices`."""
    if not indices:
        return [], []
    model.eval()
    batch = to_device(collate([dataset[i] for i in indices]))
    with hardware.autocast():
        probs = torch.sigmoid(predict_logits(model, batch).float())
    images, captions = [], []
    for b in range(len(indices)):
        valid = batch["pixel_mask"][b, 0]
        h, w = int(valid.any(1).sum()), int(valid.any(0).sum())
        last_fire = batch["fire"][b, -1, :h, :w].cpu().numpy()
        target = batch["target"][b, 0, :h, :w].cpu().numpy()
        images.append(preview_image(last_fire, target, probs[b, 0, :h, :w].cpu().numpy(),
                                    background=batch["static"][b, 0, :h, :w].cpu().numpy(), threshold=threshold))
        new = int(newly_burned(target, last_fire).sum())
        captions.append(f"sequence {int(batch['seq_id'][b])}, t={int(batch['t'][b])}, {new} px newly burned: "
                        f"{PREVIEW_LEGEND}")
    return images, captions


def epoch_line(epoch: int, epochs: int, loss_name: str, train: dict, val: dict) -> str:
    return (f"[Epoch {epoch:2d}/{epochs}] {loss_name} | train: loss={train['loss']:.4f} f1={train['f1']:.3f} "
            f"prec={train['prec']:.3f} | val: loss={val['loss']:.4f} f1={val['f1']:.3f} prec={val['prec']:.3f} "
            f"iou={val['iou']:.3f}")


def epoch_record(epoch: int, train: dict, val: dict, lrs: dict, stopper) -> dict:
    """The epoch's W&B keys (the training guide's names)."""
    record = {"epoch": epoch, "train/T_avg_epoch": train["T_avg"], "early_stop/counter": stopper.counter,
              "early_stop/best_value": stopper.best_value, "early_stop/best_epoch": stopper.best_epoch}
    record.update({f"train/{k}_epoch": v for k, v in train.items() if k != "T_avg"})
    record.update({f"val/{k}_epoch": v for k, v in val.items() if k != "T_avg"})
    record.update({f"train/lr_{name}": lr for name, lr in lrs.items()})
    return record


# --------------------------------------------------------------------------------------------
# The epochs of a run
# --------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """How `fit` ended: `status` is completed, early_stopped or interrupted."""

    status: str
    epoch: int  # the last epoch that ran (or began, when interrupted)
    last_val: dict
    skipped_steps: int
    signal_name: str = ""


def install_signal_handlers() -> None:
    def handler(signum, _frame):
        raise TrainingInterrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def fit(run) -> Outcome:
    """Train `run` (a emberformer.training.run.Run) from its start epoch until the last epoch, an
    early stop or a signal; rank 0 logs, previews and writes last.pt / best.pt every epoch."""
    cfg, model, stopper = run.cfg, run.model, run.stopper
    to_device = run.data.to_device(run.hardware.device)
    previews = preview_samples(run.data.dataset("val"), cfg.metrics.num_previews) if run.dist.is_main else []
    runner = EpochRunner(run.wrap_for_training(), run.loss_fn, run.optimizer, run.scaler, run.hardware, run.logger,
                         run.dist, to_device, epochs=cfg.train.epochs, pred_thresh=cfg.metrics.pred_thresh,
                         grad_clip=cfg.train.grad_clip, nan_policy=cfg.train.nan_policy,
                         limit_train_batches=cfg.train.limit_train_batches,
                         limit_val_batches=cfg.train.limit_val_batches,
                         log_metrics_every=cfg.metrics.log_metrics_every, global_step=run.global_step)
    ckpt_dir = run.checkpoint_dir
    epoch, last_val = run.start_epoch - 1, {}

    def save(name: str, completed_epoch: int) -> None:
        save_checkpoint(ckpt_dir / name, training_state(
            model, run.optimizer, run.scheduler, run.scaler, stopper, epoch=completed_epoch, step=runner.global_step,
            config=run.resolved, wandb_run_id=run.logger.run_id, val_metrics=last_val))

    install_signal_handlers()
    try:
        for epoch in range(run.start_epoch, cfg.train.epochs + 1):
            if run.dist.enabled:
                run.train_loader.sampler.set_epoch(epoch)
            trainable = trainable_names(model)
            model.on_epoch_start(epoch)
            if run.dist.enabled and trainable_names(model) != trainable:
                # DDP all-reduces only the parameters that required grad when it was built: after a
                # freeze or unfreeze (model.freeze_epochs) it is rebuilt, or the ranks would drift apart.
                runner.model = run.wrap_for_training()
            train_metrics = runner.run(run.train_loader, epoch, training=True)
            with torch.no_grad():
                last_val = runner.run(run.val_loader, epoch, training=False)
            lrs = group_lrs(run.optimizer)
            if run.scheduler is not None:
                run.scheduler.step()
            improved = stopper.step(last_val[stopper.monitor.split("/", 1)[1]], epoch)
            if not run.dist.is_main:
                if stopper.should_stop:
                    break
                continue

            run.logger.log(epoch_record(epoch, train_metrics, last_val, lrs, stopper), step=runner.global_step)
            images, captions = val_previews(model, run.data.dataset("val"), previews, to_device, run.data.collate,
                                            run.hardware, cfg.metrics.pred_thresh)
            run.logger.log_images("val/preview", images, captions, step=runner.global_step, epoch=epoch)
            save("last.pt", epoch)
            if improved:
                save("best.pt", epoch)
                run.logger.log_checkpoint(ckpt_dir / "best.pt", {"epoch": epoch, stopper.monitor: stopper.best_value})
            print(epoch_line(epoch, cfg.train.epochs, run.loss_fn.name, train_metrics, last_val), flush=True)

            if stopper.should_stop:
                print(f"\n🛑 Early stopping triggered!\n   Best {stopper.monitor}: {stopper.best_value:.4f} "
                      f"at epoch {stopper.best_epoch}\n   No improvement for {stopper.counter} epochs")
                return Outcome("early_stopped", epoch, last_val, runner.skipped_steps)
    except TrainingInterrupted as signal_name:
        if run.dist.is_main:
            save("last.pt", epoch - 1)
        return Outcome("interrupted", epoch, last_val, runner.skipped_steps, signal_name=str(signal_name))
    except BaseException:
        run.logger.finish(exit_code=1)
        raise
    return Outcome("completed", epoch, last_val, runner.skipped_steps)

