"""Checkpoints: `best.pt` (by the monitored metric) and `last.pt` (every epoch), written atomically.

A checkpoint holds everything a resume needs: model, optimizer, scaler, scheduler, early-stopper
state, epoch, step, RNG states, the resolved config and the W&B run id.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from emberformer.errors import CheckpointError

# Config sections that decide the shapes of the saved tensors: resuming with other values can't work.
SHAPE_KEYS = ("model",)


def save_checkpoint(path: Path, state: dict) -> None:
    """Write the whole file, fsync, then rename over `path`: a crash never leaves a half-written checkpoint.

    Where the OS offers it (Linux), the data goes to an anonymous file that only gets a name once it is
    complete, so even a SIGKILL mid-write leaves nothing behind; elsewhere a named temp file is used.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fd = _anonymous_file(path.parent)
        with os.fdopen(fd, "wb") if fd is not None else open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
            if fd is not None:
                _name(fh.fileno(), tmp)  # only now that it is whole
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _anonymous_file(folder: Path) -> int | None:
    """A file descriptor of an unnamed file in `folder` (Linux O_TMPFILE), or None where unsupported."""
    if not hasattr(os, "O_TMPFILE") or not Path("/proc/self/fd").is_dir():
        return None
    try:
        return os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o644)
    except OSError:  # a file system without O_TMPFILE support
        return None


def _name(fd: int, path: Path) -> None:
    """Give the finished anonymous file `fd` the name `path` (linkat through /proc; a directory fd
    makes Python call linkat with AT_SYMLINK_FOLLOW rather than link(), which can't name it)."""
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.link(f"/proc/self/fd/{fd}", path.name, dst_dir_fd=folder, follow_symlinks=True)
    finally:
        os.close(folder)


def load_checkpoint(path, map_location="cpu") -> dict:
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the path of a last.pt or best.pt "
                              f"from a run's checkpoints/ folder")
    try:
        # Our checkpoints hold plain Python containers besides tensors (config, RNG states).
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # torch raises several types for truncated/corrupt files
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(err).__name__}); it is corrupt or "
                              f"truncated: use the run's other checkpoint (best.pt/last.pt)") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"checkpoint {path} was not written by emberformer.train (no model/config); "
                              f"pass a last.pt or best.pt from a run's checkpoints/ folder")
    return state


def check_compatible(state: dict, config: dict, path) -> None:
    """The model section must match the checkpoint's, key by key."""
    for section in SHAPE_KEYS:
        saved, current = _flatten(state["config"].get(section, {})), _flatten(config.get(section, {}))
        for key in sorted(set(saved) | set(current)):
            if saved.get(key) != current.get(key) and not key.endswith("pretrained"):
                raise CheckpointError(
                    f"checkpoint {path} was trained with {section}.{key}={saved.get(key)} but the config has "
                    f"{current.get(key)}; resume with {section}.{key}={saved.get(key)} or start a new run")


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def training_state(model, optimizer, scheduler, scaler, stopper, *, epoch: int, step: int, config: dict,
                   wandb_run_id: str | None, val_metrics: dict) -> dict:
    """Everything a resume needs after `epoch` completed epochs (optimizer/scheduler are None for
    a model with nothing to train)."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict(),
        "early_stopping": stopper.state_dict(),
        "epoch": epoch,
        "step": step,
        "rng": rng_state(),
        "config": config,
        "wandb_run_id": wandb_run_id,
        "val_metrics": val_metrics,
    }


def restore_training_state(state: dict, model, optimizer, scheduler, scaler, stopper) -> tuple[int, int]:
    """Load a `training_state` back into the run's objects; returns (first epoch to run, global step)."""
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    stopper.load_state_dict(state["early_stopping"])
    restore_rng_state(state["rng"])
    return state["epoch"] + 1, state["step"]


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
