"""Weights & Biases logging that never blocks or kills training (the `logger=` config group).

Every record also goes to `<run dir>/metrics.jsonl` and previews to `<run dir>/previews/`, so a
run can be reviewed offline from its folder alone (`python -m emberformer.report RUN_DIR`).
"""

from __future__ import annotations

import json
import math
import netrc
import os
import socket
import sys
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from emberformer.errors import require
from emberformer.metrics import METRIC_NAMES

MODES = ("online", "offline", "disabled")

# Epoch-level keys are plotted against the epoch, the rest against the optimizer step.
# (W&B accepts only trailing globs here, hence the explicit train/ names.)
EPOCH_KEY_PATTERNS = ("val/*", "early_stop/*", "train/lr_*", "train/T_avg_epoch",
                      *(f"train/{m}_epoch" for m in ("loss", *METRIC_NAMES)))


def _note(message: str) -> None:
    print(f"[wandb] {message}", file=sys.stderr, flush=True)


def has_credentials(base_url: str) -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(urlsplit(base_url).hostname or "") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def reachable(base_url: str, timeout_s: float = 3.0) -> bool:
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _jsonable(value):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def same_size(images: list[np.ndarray]) -> list[np.ndarray]:
    """uint8 RGB images padded with white at the bottom/right to the largest height and width."""
    if not images:
        return images
    height, width = max(i.shape[0] for i in images), max(i.shape[1] for i in images)
    padded = []
    for image in images:
        canvas = np.full((height, width, *image.shape[2:]), 255, dtype=image.dtype)
        canvas[:image.shape[0], :image.shape[1]] = image
        padded.append(canvas)
    return padded


class WandbLogger:
    def __init__(self, project: str = "emberformer", entity: str | None = None, mode: str = "online",
                 group: str | None = None, tags: list | None = None, name: str | None = None,
                 log_checkpoints: bool = True):
        require(mode in MODES, f"logger.mode={mode} must be online, offline or disabled")
        self.project, self.entity, self.mode = project, entity, mode
        self.group, self.tags, self.name = group, list(tags or []), name
        self.log_checkpoints = log_checkpoints
        self.run = None
        self.run_dir: Path | None = None
        self._failed_once = False

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, run_dir: Path, config: dict, run_id: str | None = None) -> None:
        """Open the run (resuming `run_id` if given). Online without credentials or network goes offline."""
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.mode == "disabled":
            return
        import wandb

        mode = self._effective_mode()
        kwargs = dict(project=self.project, entity=self.entity, group=self.group, tags=self.tags or None,
                      name=self.name, config=config, dir=str(self.run_dir), id=run_id,
                      resume="allow" if run_id else None, reinit="finish_previous",
                      settings=wandb.Settings(init_timeout=30, console="off", quiet=True))
        try:
            self.run = wandb.init(mode=mode, **kwargs)
        except Exception as err:  # noqa: BLE001 — any failure to reach W&B must not stop training
            if mode != "online":
                _note(f"could not start a W&B run ({type(err).__name__}: {err}); logging to metrics.jsonl only")
                return
            _note(f"online init failed ({type(err).__name__}); continuing offline — sync later with `wandb sync`")
            self.run = wandb.init(mode="offline", **kwargs)
        for pattern in EPOCH_KEY_PATTERNS:
            self._guard(self.run.define_metric, pattern, step_metric="epoch")

    def _effective_mode(self) -> str:
        if self.mode != "online":
            return self.mode
        base_url = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
        if not has_credentials(base_url):
            _note("no W&B credentials (run `wandb login` or set WANDB_API_KEY); logging offline")
            return "offline"
        if not reachable(base_url):
            _note(f"{urlsplit(base_url).hostname} is unreachable; logging offline — sync later with `wandb sync`")
            return "offline"
        return "online"

    def finish(self, exit_code: int = 0) -> None:
        if self.run is not None:
            self._guard(self.run.finish, exit_code=exit_code)
            self.run = None

    # -- records ---------------------------------------------------------------------------
    def log(self, metrics: dict, step: int) -> None:
        record = {k: _jsonable(v) for k, v in metrics.items()}
        if self.run_dir is not None:
            self._guard(self._append_jsonl, {"step": step, **record})
        if self.run is not None:
            self._guard(self.run.log, record, step=step)

    def _append_jsonl(self, record: dict) -> None:
        with open(self.run_dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def log_images(self, key: str, images: list[np.ndarray], captions: list[str], step: int, epoch: int) -> None:
        """Save previews as PNGs (offline report) and log them as one W&B image list, all at one size
        (W&B draws a list of images of different sizes wrongly, and warns every time)."""
        from PIL import Image

        images = same_size(images)

        def save_pngs():
            folder = self.run_dir / "previews"
            folder.mkdir(exist_ok=True)
            for i, image in enumerate(images):
                Image.fromarray(image).save(folder / f"epoch_{epoch:03d}_{i}.png")

        if self.run_dir is not None:
            self._guard(save_pngs)
        if self.run is not None:
            import wandb

            self._guard(lambda: self.run.log(
                {key: [wandb.Image(img, caption=cap) for img, cap in zip(images, captions)], "epoch": epoch},
                step=step))

    def log_checkpoint(self, path: Path, metadata: dict) -> None:
        if self.run is None or not self.log_checkpoints or self.run.settings.mode != "online":
            return
        import wandb

        def upload():
            artifact = wandb.Artifact(f"{self.run.id}-best", type="model", metadata=metadata)
            artifact.add_file(str(path))
            self.run.log_artifact(artifact, aliases=["best", f"epoch-{metadata.get('epoch')}"])

        self._guard(upload)

    def summary(self, values: dict) -> None:
        if self.run is not None:
            self._guard(lambda: self.run.summary.update({k: _jsonable(v) for k, v in values.items()}))

    # -- info for the banner ---------------------------------------------------------------
    @property
    def run_id(self) -> str | None:
        return self.run.id if self.run is not None else None

    def describe(self) -> list[str]:
        if self.run is None:
            return [f"W&B run: {self.mode if self.mode == 'disabled' else 'not started'} "
                    f"(metrics in {self.run_dir}/metrics.jsonl)"]
        lines = [f"W&B run: {self.run.name} ({self.run.id}, {self.run.settings.mode})"]
        lines.append(f"W&B url: {self.run.url}" if self.run.settings.mode == "online"
                     else f"W&B dir: {self.run.dir}")
        return lines

    def _guard(self, fn, *args, **kwargs):
        """An exception inside logging (W&B, a full disk) is reported once and never reaches the training loop."""
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001
            if not self._failed_once:
                warnings.warn(f"W&B logging failed ({type(err).__name__}: {err}); training continues", stacklevel=2)
                self._failed_once = True
            return None
