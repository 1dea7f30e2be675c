"""Used by `analysis.scoring` (the evaluate and compare commands) and the predict command: a trained
model and its data, rebuilt from a checkpoint. The one place that loads a checkpoint for analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from emberformer import config as config_lib
from emberformer.contract import build_model
from emberformer.errors import CheckpointError, ConfigError
from emberformer.training.checkpoint import load_checkpoint


@dataclass
class Trained:
    path: Path
    state: dict
    config: DictConfig
    data: object  # the data module its config builds (e.g. FireSpreadData), set up
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
    model = build_model(cfg.model, data.inputs)
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
