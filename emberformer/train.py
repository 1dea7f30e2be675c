"""Train a next-step fire-spread model: `python -m emberformer.train [group=option ...] [key=value ...]`.

Reads top to bottom: validate the config, build the pieces (hardware, loss, early stopping, data,
model, optimizer, logger), resume if asked, then the epoch loop (train, validate, log, checkpoint,
early stop). Under `--multirun` each job writes `result.json` and returns its best monitored value.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sys
import time
from pathlib import Path

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from emberformer import config as config_lib
from emberformer.errors import ConfigError, EmberFormerError, show_tracebacks
from emberformer.metrics import fire_metrics, metric_inputs
from emberformer.training.checkpoint import (
    check_compatible,
    load_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from emberformer.training.distributed import DistEnv, trainable_names
from emberformer.training.optim import group_lrs
from emberformer.viz import preview_panels

BATCH_TENSORS = ("fire", "static", "wind", "time_mask", "target", "pixel_mask")


class TrainingInterrupted(Exception):
    """SIGINT/SIGTERM arrived: the loop saves last.pt and stops at the next batch boundary."""


class NonFiniteLoss(EmberFormerError):
    pass


# --------------------------------------------------------------------------------------------
# Small pieces the loop uses
# --------------------------------------------------------------------------------------------
def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def to_device(batch: dict, device: str) -> dict:
    non_blocking = device.startswith("cuda")
    return {k: (v.to(device, non_blocking=non_blocking) if k in BATCH_TENSORS else v) for k, v in batch.items()}


def forward(model, batch: dict) -> torch.Tensor:
    return model(batch["fire"], batch["static"], batch["wind"], batch["time_mask"])


def install_signal_handlers() -> None:
    def handler(signum, _frame):
        raise TrainingInterrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_dir_and_mode() -> tuple[Path, bool]:
    hydra_cfg = HydraConfig.get()
    return Path(hydra_cfg.runtime.output_dir), hydra_cfg.mode == RunMode.MULTIRUN


def sweep_group_and_tags(cfg: DictConfig, is_multirun: bool) -> tuple[str | None, list[str]]:
    """Jobs of one sweep share a W&B group named after the sweep dir; their overrides become tags."""
    if not is_multirun:
        return cfg.logger.group, list(cfg.logger.tags)
    hydra_cfg = HydraConfig.get()
    group = cfg.logger.group or f"sweep-{Path(hydra_cfg.sweep.dir).name}-{Path(hydra_cfg.sweep.dir).parent.name}"
    return group, [*cfg.logger.tags, *hydra_cfg.overrides.task][:64]


def epoch_line(epoch: int, epochs: int, loss_name: str, train: dict, val: dict) -> str:
    return (f"[Epoch {epoch:2d}/{epochs}] {loss_name} | train: loss={train['loss']:.4f} f1={train['f1']:.3f} "
            f"prec={train['prec']:.3f} | val: loss={val['loss']:.4f} f1={val['f1']:.3f} prec={val['prec']:.3f} "
            f"iou={val['iou']:.3f}")


def banner(lines: list[str]) -> str:
    rule = "=" * 60
    return "\n".join([rule, *lines, rule])


def write_result(folder: Path, **fields) -> None:
    """The machine-readable outcome of a run (sweeps rank jobs by it)."""
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in fields.items()}
    (folder / "result.json").write_text(json.dumps(clean, indent=2) + "\n")


# --------------------------------------------------------------------------------------------
# One pass over a loader
# --------------------------------------------------------------------------------------------
class EpochRunner:
    """Runs train or validation epochs and owns the step counter and step-level logging."""

    def __init__(self, model, loss_fn, optimizer, scaler, hardware, logger, dist_env: DistEnv,
                 cfg: DictConfig, global_step: int = 0):
        self.model, self.loss_fn, self.optimizer, self.scaler = model, loss_fn, optimizer, scaler
        self.hardware, self.logger, self.dist = hardware, logger, dist_env
        self.cfg = cfg
        self.global_step = global_step
        self.skipped_steps = 0

    def run(self, loader, epoch: int, training: bool) -> dict:
        cfg = self.cfg
        trainable = training and self.optimizer is not None
        self.model.train(trainable)
        metrics = fire_metrics(cfg.metrics.pred_thresh).to(self.hardware.device)
        running = fire_metrics(cfg.metrics.pred_thresh, sync_on_compute=False).to(self.hardware.device)
        limit = cfg.train.limit_train_batches if training else cfg.train.limit_val_batches
        total = len(loader) if limit is None else min(len(loader), int(limit))
        sums = torch.zeros(3, dtype=torch.float64)  # loss * n, n, T-sum
        bar = tqdm(loader, total=total, desc=f"Epoch {epoch}/{cfg.train.epochs} [{'Train' if training else 'Val'}]",
                   disable=not self.dist.is_main, leave=True, dynamic_ncols=True)
        for i, batch in enumerate(bar):
            if i >= total:
                break
            batch = to_device(batch, self.hardware.device)
            with torch.set_grad_enabled(trainable), self.hardware.autocast():
                logits = forward(self.model, batch)
                loss, parts = self.loss_fn(logits.float(), batch["target"], batch["pixel_mask"])
            if not torch.isfinite(loss):
                # A NaN in validation means the weights themselves are broken: skipping can't help there.
                if not training or cfg.train.nan_policy == "stop":
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
            bar.set_postfix(loss=f"{sums[0] / sums[1]:.4f}")
            if training:
                running.update(probs, labels)
                self._log_step(loss, parts, batch, running)
        bar.close()
        sums = self.dist.sum(sums.to(self.hardware.device)).cpu()
        results = {name: value.item() for name, value in metrics.compute().items()}
        results["loss"] = (sums[0] / sums[1].clamp_min(1)).item()
        results["T_avg"] = (sums[2] / sums[1].clamp_min(1)).item()
        return results

    def _optimize(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.train.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def _log_step(self, loss, parts: dict, batch: dict, running) -> None:
        self.global_step += 1
        if not self.dist.is_main:
            return
        record = {"train/loss_step": loss.item(), "train/batch_T_avg": batch["length"].float().mean().item()}
        record.update({f"train/{name}_step": value.item() for name, value in parts.items()})
        if self.global_step % self.cfg.metrics.log_metrics_every == 0:
            # Running averages since the start of the epoch (no sync: rank 0's view is enough here).
            record.update({f"train/{name}_step": value.item() for name, value in running.compute().items()})
        self.logger.log(record, step=self.global_step)


@torch.no_grad()
def val_previews(model, loader, hardware, count: int) -> tuple[list[np.ndarray], list[str]]:
    """History | target | prediction for the first `count` validation samples."""
    model.eval()
    images, captions = [], []
    for batch in loader:
        batch = to_device(batch, hardware.device)
        with hardware.autocast():
            probs = torch.sigmoid(forward(model, batch).float())
        for b in range(batch["target"].shape[0]):
            if len(images) == count:
                return images, captions
            valid = batch["pixel_mask"][b, 0]
            h, w = int(valid.any(1).sum()), int(valid.any(0).sum())
            images.append(preview_panels(batch["fire"][b, -1, :h, :w].cpu().numpy(),
                                         batch["target"][b, 0, :h, :w].cpu().numpy(),
                                         probs[b, 0, :h, :w].cpu().numpy(),
                                         background=batch["static"][b, 0, :h, :w].cpu().numpy()))
            captions.append(f"sequence {int(batch['seq_id'][b])}, t={int(batch['t'][b])}: history | target | prediction")
    return images, captions


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------
def train(cfg: DictConfig) -> float:
    config_lib.validate(cfg)
    run_dir, is_multirun = run_dir_and_mode()
    hardware = config_lib.build(cfg.hardware)
    dist_env = DistEnv.from_env(hardware.device)
    hardware.set_rank_device(dist_env.local_rank)
    run_dir = dist_env.shared_run_dir(run_dir)
    seed_everything(cfg.seed + dist_env.rank, cfg.deterministic)

    # Cheap objects first: a bad value fails here, before any data loads.
    loss_fn = config_lib.build(cfg.loss)
    stopper = config_lib.build(cfg.early_stopping)
    resume = load_checkpoint(cfg.train.resume) if cfg.train.resume else None
    resolved = OmegaConf.to_container(cfg, resolve=True)
    if resume is not None:
        check_compatible(resume, resolved, cfg.train.resume)
        if resume["epoch"] >= cfg.train.epochs:
            raise ConfigError(f"checkpoint {cfg.train.resume} already finished epoch {resume['epoch']} of "
                              f"train.epochs={cfg.train.epochs}; raise train.epochs to train further")

    data = config_lib.build(cfg.data)
    data.setup()
    model = config_lib.build(cfg.model, in_static_channels=data.num_static_channels, wind_features=data.wind_features)
    model.to(hardware.device)
    optimizer, scheduler = config_lib.build(cfg.optimizer)(model, epochs=cfg.train.epochs)
    scaler = hardware.grad_scaler()
    if loss_fn.needs_positive_fraction():
        loss_fn.set_positive_fraction(data.positive_fraction("train"))
    loader_kwargs = hardware.loader_kwargs()
    train_loader = data.loader("train", distributed=dist_env.enabled, seed=cfg.seed, **loader_kwargs)
    val_loader = data.loader("val", distributed=dist_env.enabled, seed=cfg.seed, **loader_kwargs)
    n_params = sum(p.numel() for p in model.parameters())

    start_epoch, global_step = 1, 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        if optimizer is not None:
            optimizer.load_state_dict(resume["optimizer"])
            scheduler.load_state_dict(resume["scheduler"])
        scaler.load_state_dict(resume["scaler"])
        stopper.load_state_dict(resume["early_stopping"])
        restore_rng_state(resume["rng"])
        start_epoch, global_step = resume["epoch"] + 1, resume["step"]

    def wrap_for_training() -> torch.nn.Module:
        wrapped = hardware.prepare(model)
        if dist_env.enabled and optimizer is not None:
            wrapped = torch.nn.parallel.DistributedDataParallel(
                wrapped, device_ids=[dist_env.local_rank] if hardware.is_cuda else None)
        return wrapped

    trained_model = wrap_for_training()

    logger = config_lib.build(cfg.logger)
    if dist_env.is_main:
        logger.group, logger.tags = sweep_group_and_tags(cfg, is_multirun)
        logger.name = logger.name or f"{cfg.task_name}-{run_dir.parent.name}-{run_dir.name}"
        logger.start(run_dir, resolved, run_id=resume.get("wandb_run_id") if resume else None)
        print(banner([
            f"{'Resuming' if resume else 'Starting'} Training: {cfg.train.epochs} epochs"
            + (f" (from epoch {start_epoch})" if resume else ""),
            f"  Model: {model.describe()} — {n_params / 1e6:.2f}M parameters",
            f"  Data: {data.describe()}",
            f"  Train samples: {len(train_loader.dataset)}",
            f"  Val samples: {len(val_loader.dataset)}",
            f"  Batch size: {hardware.batch_size}" + (f" x {dist_env.world_size} ranks" if dist_env.enabled else ""),
            f"  Hardware: {hardware.describe()}",
            f"  LR temporal: {cfg.optimizer.lr_temporal:.2e}, LR spatial: {cfg.optimizer.lr_spatial:.2e}",
            f"  Loss: {loss_fn.describe()}",
            f"  Early stopping: {stopper.describe()}",
            *[f"  {line}" for line in logger.describe()],
            f"  Outputs: {run_dir}",
        ]), flush=True)

    runner = EpochRunner(trained_model, loss_fn, optimizer, scaler, hardware, logger, dist_env, cfg, global_step)
    ckpt_dir = run_dir / "checkpoints"
    epoch, status = start_epoch - 1, "completed"
    last_val: dict = {}

    def checkpoint_state(completed_epoch: int) -> dict:
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "scaler": scaler.state_dict(),
            "early_stopping": stopper.state_dict(),
            "epoch": completed_epoch,
            "step": runner.global_step,
            "rng": rng_state(),
            "config": resolved,
            "wandb_run_id": logger.run_id,
            "val_metrics": last_val,
        }

    install_signal_handlers()
    try:
        for epoch in range(start_epoch, cfg.train.epochs + 1):
            if dist_env.enabled:
                train_loader.sampler.set_epoch(epoch)
            trainable = trainable_names(model)
            model.on_epoch_start(epoch)
            if dist_env.enabled and trainable_names(model) != trainable:
                # DDP all-reduces only the parameters that required grad when it was built: after a
                # freeze or unfreeze (model.freeze_epochs) it is rebuilt, or the ranks would drift apart.
                runner.model = wrap_for_training()
            train_metrics = runner.run(train_loader, epoch, training=True)
            with torch.no_grad():
                last_val = runner.run(val_loader, epoch, training=False)
            lrs = group_lrs(optimizer)
            if scheduler is not None:
                scheduler.step()
            improved = stopper.step(last_val[stopper.monitor.split("/", 1)[1]], epoch)
            if not dist_env.is_main:
                if stopper.should_stop:
                    break
                continue

            record = {"epoch": epoch, "train/T_avg_epoch": train_metrics["T_avg"],
                      "early_stop/counter": stopper.counter, "early_stop/best_value": stopper.best_value,
                      "early_stop/best_epoch": stopper.best_epoch}
            record.update({f"train/{k}_epoch": v for k, v in train_metrics.items() if k != "T_avg"})
            record.update({f"val/{k}_epoch": v for k, v in last_val.items() if k != "T_avg"})
            record.update({f"train/lr_{name}": lr for name, lr in lrs.items()})
            logger.log(record, step=runner.global_step)
            images, captions = val_previews(model, val_loader, hardware, cfg.metrics.num_previews)
            logger.log_images("val/preview", images, captions, step=runner.global_step, epoch=epoch)

            save_checkpoint(ckpt_dir / "last.pt", checkpoint_state(epoch))
            if improved:
                save_checkpoint(ckpt_dir / "best.pt", checkpoint_state(epoch))
                logger.log_checkpoint(ckpt_dir / "best.pt", {"epoch": epoch, stopper.monitor: stopper.best_value})
            print(epoch_line(epoch, cfg.train.epochs, loss_fn.name, train_metrics, last_val), flush=True)

            if stopper.should_stop:
                status = "early_stopped"
                print(f"\n🛑 Early stopping triggered!\n   Best {stopper.monitor}: {stopper.best_value:.4f} "
                      f"at epoch {stopper.best_epoch}\n   No improvement for {stopper.counter} epochs")
                break
    except TrainingInterrupted as signal_name:
        if dist_env.is_main:
            save_checkpoint(ckpt_dir / "last.pt", checkpoint_state(epoch - 1))
            write_result(run_dir, status="interrupted", monitor=stopper.monitor, best_value=stopper.best_value,
                         best_epoch=stopper.best_epoch, stop_epoch=epoch - 1, final_val=last_val)
            logger.finish(exit_code=1)
            print(f"\nInterrupted by {signal_name} during epoch {epoch}; saved {ckpt_dir / 'last.pt'}.\n"
                  f"Resume with: python -m emberformer.train train.resume={ckpt_dir / 'last.pt'} "
                  f"(plus the same overrides)", file=sys.stderr)
        dist_env.close()
        sys.exit(130)
    except BaseException:
        logger.finish(exit_code=1)
        raise

    checksums = dist_env.weight_checksums(model)
    if dist_env.is_main:
        summary = dict(status=status, monitor=stopper.monitor, best_value=stopper.best_value,
                       best_epoch=stopper.best_epoch, stop_epoch=epoch, final_val=last_val,
                       skipped_steps=runner.skipped_steps, run_dir=str(run_dir),
                       best_checkpoint=str(ckpt_dir / "best.pt"), world_size=dist_env.world_size,
                       rank_weight_checksums=checksums)
        write_result(run_dir, **summary)
        logger.summary({f"best/{stopper.monitor}": stopper.best_value, "best/epoch": stopper.best_epoch})
        logger.finish()
        print(banner(["Training complete!",
                      f"  Best {stopper.monitor}: {stopper.best_value:.4f} at epoch {stopper.best_epoch}",
                      f"  Checkpoints: {ckpt_dir}",
                      f"  Review offline: python -m emberformer.report {run_dir}"]))
    dist_env.close()
    return stopper.best_value


@hydra.main(version_base="1.3", config_path=str(config_lib.CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    started = time.time()
    run_dir, is_multirun = run_dir_and_mode()
    try:
        return train(cfg)
    except Exception as err:
        if is_multirun and not show_tracebacks():
            # One bad job (bad value, NaN, out of memory) must not end the sweep: record it, go on.
            print(f"error: {err}", file=sys.stderr, flush=True)
            write_result(run_dir, status="failed", error=f"{type(err).__name__}: {err}",
                         seconds=round(time.time() - started, 1))
            # None, not NaN: the Optuna sweeper marks a trial with a non-numeric return as failed and
            # goes on, whereas a NaN makes it crash (optuna rejects NaN, then the plugin's fallback raises).
            return None
        if isinstance(err, EmberFormerError) and not show_tracebacks():
            print(f"error: {err}", file=sys.stderr, flush=True)
            sys.exit(err.exit_code)
        raise


if __name__ == "__main__":
    # `python -m emberformer.train` runs this file as __main__, whose functions cloudpickle copies by
    # value (and fails on torch.backends.cudnn) when joblib/submitit ship the task to a worker: call
    # main from the module imported under its own name so they are pickled by reference.
    from emberformer.train import main as importable_main

    importable_main()
