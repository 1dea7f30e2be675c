"""The stages of a training run around the loop: set up, restore, start logging, finish.

`python -m emberformer.train` calls them in order (emberformer/train.py); the loop itself is
emberformer/training/loop.py. Cheap objects are built first, so a bad value fails before any
data loads.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from emberformer import config as config_lib
from emberformer.contract import build_model
from emberformer.errors import CheckpointError, ConfigError, show_tracebacks
from emberformer.training.checkpoint import check_compatible, load_checkpoint, restore_training_state
from emberformer.training.distributed import DistEnv
from emberformer.training.optim import describe_rates


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def run_dir_and_mode() -> tuple[Path, bool]:
    """This Hydra job's output folder, and whether it is one job of a --multirun."""
    hydra_cfg = HydraConfig.get()
    return Path(hydra_cfg.runtime.output_dir), hydra_cfg.mode == RunMode.MULTIRUN


def sweep_group_and_tags(cfg: DictConfig, is_multirun: bool) -> tuple[str | None, list[str]]:
    """Jobs of one sweep share a W&B group named after the sweep dir; their overrides become tags."""
    if not is_multirun:
        return cfg.logger.group, list(cfg.logger.tags)
    hydra_cfg = HydraConfig.get()
    group = cfg.logger.group or f"sweep-{Path(hydra_cfg.sweep.dir).name}-{Path(hydra_cfg.sweep.dir).parent.name}"
    return group, [*cfg.logger.tags, *hydra_cfg.overrides.task][:64]


class OutputDirCheck(Callback):
    """A Hydra callback (conf/train.yaml: hydra.callbacks) that checks, before Hydra creates it, that
    the run's (or sweep's) output folder can be made: otherwise Hydra fails deep in its own code
    with a traceback. Nothing is created here."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        _check_creatable(config.hydra.run.dir, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        _check_creatable(config.hydra.sweep.dir, "hydra.sweep.dir")


def _check_creatable(folder: str, key: str) -> None:
    path = Path(folder).expanduser().absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    problem = (None if existing.is_dir() and os.access(existing, os.W_OK | os.X_OK) else
               "is not writable" if existing.is_dir() else "is a file, not a folder")
    if problem and not show_tracebacks():
        print(f"error: {key}={folder}: can't create the output folder there: {existing} {problem}; "
              f"choose another {key}", file=sys.stderr, flush=True)
        sys.exit(2)


AUTO = "auto"  # train.resume=auto: continue this run folder's own checkpoint, if any
FINISHED = ("completed", "early_stopped")  # the statuses of a run that ended on its own (loop.Outcome)


def finished_result(run_dir: Path) -> dict | None:
    """The run folder's result.json when it records a finished run (what train.resume=auto skips)."""
    try:
        result = json.loads((run_dir / "result.json").read_text())
    except (OSError, ValueError):
        return None
    return result if result.get("status") in FINISHED else None


def banner(lines: list[str]) -> str:
    rule = "=" * 60
    return "\n".join([rule, *lines, rule])


def write_result(folder: Path, **fields) -> None:
    """The machine-readable outcome of a run (sweeps rank jobs by it)."""
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in fields.items()}
    (folder / "result.json").write_text(json.dumps(clean, indent=2) + "\n")


@dataclass
class Run:
    """Everything one training run is made of, built from the composed config."""

    cfg: DictConfig
    run_dir: Path
    is_multirun: bool
    resolved: dict  # the resolved config, as checkpoints and W&B record it
    hardware: object
    dist: DistEnv
    loss_fn: object
    stopper: object
    data: object
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer | None
    scheduler: object
    scaler: torch.amp.GradScaler
    train_loader: object
    val_loader: object
    logger: object  # emberformer.training.wandb_logger.WandbLogger, started by start_logging
    resume: dict | None = None
    start_epoch: int = 1
    global_step: int = 0

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def wrap_for_training(self) -> torch.nn.Module:
        """The model as the loop calls it: the hardware preset's memory format / compilation, in DDP
        when several ranks train."""
        wrapped = self.hardware.prepare(self.model)
        if self.dist.enabled and self.optimizer is not None:
            wrapped = torch.nn.parallel.DistributedDataParallel(
                wrapped, device_ids=[self.dist.local_rank] if self.hardware.is_cuda else None)
        return wrapped


def set_up(cfg: DictConfig) -> Run:
    """Hardware and ranks, seed, loss, early stopping, the checkpoint to resume (checked), then
    data, model, optimizer and loaders."""
    run_dir, is_multirun = run_dir_and_mode()
    hardware = config_lib.build(cfg.hardware)
    dist = DistEnv.from_env(hardware.device)
    hardware.set_rank_device(dist.local_rank)
    run_dir = dist.shared_run_dir(run_dir)
    seed_everything(cfg.seed + dist.rank, cfg.deterministic)

    # Every group checks its own values as it is built: a bad one fails here, before any data loads.
    loss_fn = config_lib.build(cfg.loss)
    stopper = config_lib.build(cfg.early_stopping)
    optimizer_recipe = config_lib.build(cfg.optimizer)
    logger = config_lib.build(cfg.logger)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resume = load_resume(cfg, resolved, run_dir, say=dist.is_main)

    data = config_lib.build(cfg.data)
    data.setup()
    model = build_model(cfg.model, data.inputs)
    model.to(hardware.device)
    optimizer, scheduler = optimizer_recipe(model, epochs=cfg.train.epochs)
    if loss_fn.needs_positive_fraction():
        loss_fn.set_positive_fraction(data.positive_fraction("train"))
    loaders = {split: data.loader(split, distributed=dist.enabled, seed=cfg.seed, **hardware.loader_kwargs())
               for split in ("train", "val")}
    return Run(cfg, run_dir, is_multirun, resolved, hardware, dist, loss_fn, stopper, data, model, optimizer,
               scheduler, hardware.grad_scaler(), loaders["train"], loaders["val"], logger, resume)


def load_resume(cfg: DictConfig, resolved: dict, run_dir: Path, say: bool = True) -> dict | None:
    """The checkpoint `train.resume` names, checked against the config; None for a new run.
    `train.resume=auto`: this run folder's own last.pt if it has one (a sweep rerun into the same
    hydra.sweep.dir continues each stopped job), else a new run."""
    if not cfg.train.resume:
        return None
    if cfg.train.resume == AUTO:
        path = run_dir / "checkpoints" / "last.pt"
        if not path.is_file():
            return None
        if say:
            print(f"train.resume=auto: continuing from {path}", file=sys.stderr, flush=True)
    else:
        path = resume_path(cfg.train.resume, say)
    state = load_checkpoint(path)
    check_compatible(state, resolved, path)
    if state["epoch"] >= cfg.train.epochs:
        raise ConfigError(f"checkpoint {path} already finished epoch {state['epoch']} of "
                          f"train.epochs={cfg.train.epochs}; raise train.epochs to train further")
    return state


def resume_path(value, say: bool = True) -> Path:
    """`train.resume` as a checkpoint file: a run folder means its checkpoints/last.pt."""
    path = Path(str(value)).expanduser()
    if not path.is_dir():
        return path
    for candidate in (path / "checkpoints" / "last.pt", path / "last.pt"):
        if candidate.is_file():
            if say:
                print(f"train.resume={value} is a folder: resuming from {candidate}", file=sys.stderr, flush=True)
            return candidate
    held = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    raise CheckpointError(f"train.resume={value} is a folder without checkpoints/last.pt (it holds "
                          f"{', '.join(held[:12]) or 'nothing'}); pass a run folder or its checkpoints/last.pt")


def restore(run: Run) -> None:
    """Continue from `train.resume`: weights, optimizer, scheduler, scaler, early stopping, RNG, counters."""
    if run.resume is not None:
        run.start_epoch, run.global_step = restore_training_state(
            run.resume, run.model, run.optimizer, run.scheduler, run.scaler, run.stopper)


def start_logging(run: Run) -> None:
    """Open the W&B run (resuming the checkpoint's) and print the banner, on rank 0."""
    if not run.dist.is_main:
        return
    logger = run.logger
    logger.group, logger.tags = sweep_group_and_tags(run.cfg, run.is_multirun)
    logger.name = logger.name or f"{run.cfg.task_name}-{run.run_dir.parent.name}-{run.run_dir.name}"
    logger.start(run.run_dir, run.resolved, run_id=run.resume.get("wandb_run_id") if run.resume else None)
    print(banner(banner_lines(run)), flush=True)


def banner_lines(run: Run) -> list[str]:
    cfg, resumed = run.cfg, run.resume is not None
    n_params = sum(p.numel() for p in run.model.parameters())
    ranks = f" x {run.dist.world_size} ranks" if run.dist.enabled else ""
    return [
        f"{'Resuming' if resumed else 'Starting'} Training: {cfg.train.epochs} epochs"
        + (f" (from epoch {run.start_epoch})" if resumed else ""),
        f"  Model: {run.model.describe()} — "
        + (f"{n_params / 1e6:.2f}M parameters" if n_params >= 10_000 else f"{n_params:,} parameters"),
        f"  Data: {run.data.describe()}",
        f"  Train samples: {len(run.train_loader.dataset)}",
        f"  Val samples: {len(run.val_loader.dataset)}",
        f"  Batch size: {run.hardware.batch_size}{ranks}",
        f"  Hardware: {run.hardware.describe()}",
        f"  {describe_rates(run.optimizer)}",
        f"  Loss: {run.loss_fn.describe()}",
        f"  Early stopping: {run.stopper.describe()}",
        *[f"  {line}" for line in run.logger.describe()],
        f"  Outputs: {run.run_dir}",
    ]


def finish(run: Run, outcome, train_seconds: float) -> float:
    """Write result.json, close the W&B run and print the closing banner (rank 0); after a signal,
    say how to resume and exit 130. Returns the best monitored value (what sweepers optimise)."""
    stopper, ckpt_dir = run.stopper, run.checkpoint_dir
    common = dict(monitor=stopper.monitor, best_value=stopper.best_value, best_epoch=stopper.best_epoch)
    if outcome.status == "interrupted":
        if run.dist.is_main:
            write_result(run.run_dir, status="interrupted", **common, stop_epoch=outcome.epoch - 1,
                         final_val=outcome.last_val)
            run.logger.finish(exit_code=1)
            print(f"\nInterrupted by {outcome.signal_name} during epoch {outcome.epoch}; saved {ckpt_dir / 'last.pt'}."
                  f"\nResume with: python -m emberformer.train train.resume={ckpt_dir / 'last.pt'} "
                  f"(plus the same overrides)", file=sys.stderr)
        run.dist.close()
        sys.exit(130)

    checksums = run.dist.weight_checksums(run.model)
    if run.dist.is_main:
        write_result(run.run_dir, status=outcome.status, **common, stop_epoch=outcome.epoch,
                     final_val=outcome.last_val, skipped_steps=outcome.skipped_steps, run_dir=str(run.run_dir),
                     best_checkpoint=str(ckpt_dir / "best.pt"), world_size=run.dist.world_size,
                     rank_weight_checksums=checksums, train_seconds=round(train_seconds, 1))
        run.logger.summary({f"best/{stopper.monitor}": stopper.best_value, "best/epoch": stopper.best_epoch})
        run.logger.finish()
        print(banner([f"Training complete! ({train_seconds / 60:.1f} min of training)",
                      f"  Best {stopper.monitor}: {stopper.best_value:.4f} at epoch {stopper.best_epoch}",
                      f"  Checkpoints: {ckpt_dir}",
                      f"  Review offline: python -m emberformer.report {run.run_dir}"]))
    run.dist.close()
    return stopper.best_value
