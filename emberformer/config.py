"""Config composition helpers and the up-front validation of a composed config.

Everything here runs before any data loads, so a typo costs seconds, not an epoch.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from emberformer.errors import ConfigError, EmberFormerError
from emberformer.metrics import METRIC_NAMES

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"


def _loss_complement(weight) -> float:
    """`dice_weight: ${loss_complement:${loss.bce_weight}}`: a one-knob BCE/Dice sweep stays normalised."""
    return round(1.0 - float(weight), 10)


def _if_pretrained(pretrained, when_pretrained, from_scratch):
    """`${if_pretrained:${model.spatial.pretrained},1e-4,${.lr_temporal}}`: a value that depends
    on whether the decoder starts from pre-trained weights (anything but false / null)."""
    return when_pretrained if pretrained else from_scratch


for _name, _resolver in (("loss_complement", _loss_complement), ("if_pretrained", _if_pretrained)):
    if not OmegaConf.has_resolver(_name):
        OmegaConf.register_new_resolver(_name, _resolver)

MONITORABLE = tuple(f"val/{name}" for name in ("loss", *METRIC_NAMES))


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError (one line: key, value, fix) for values that would fail later or silently mislead."""
    es = cfg.early_stopping
    _require(_is_number(es.patience) and es.patience >= 0 and int(es.patience) == es.patience,
             f"early_stopping.patience={es.patience} must be a whole number >= 0 (e.g. early_stopping.patience=10)")
    _require(_is_number(es.min_delta) and es.min_delta >= 0,
             f"early_stopping.min_delta={es.min_delta} must be >= 0 (e.g. early_stopping.min_delta=0.001)")
    _require(es.mode in ("min", "max"), f"early_stopping.mode={es.mode} must be 'min' or 'max'")
    _require(es.monitor in MONITORABLE,
             f"early_stopping.monitor={es.monitor} is not a logged metric; choose one of {', '.join(MONITORABLE)}")

    hw = cfg.hardware
    _require(_is_number(hw.batch_size) and int(hw.batch_size) == hw.batch_size and hw.batch_size >= 1,
             f"hardware.batch_size={hw.batch_size} must be a whole number >= 1 (e.g. hardware.batch_size=8)")
    _require(_is_number(hw.num_workers) and hw.num_workers >= 0,
             f"hardware.num_workers={hw.num_workers} must be >= 0")
    _require(hw.precision in ("auto", "fp32", "bf16", "fp16"),
             f"hardware.precision={hw.precision} must be one of auto, fp32, bf16, fp16")

    opt = cfg.optimizer
    for key in ("lr_temporal", "lr_spatial", "weight_decay"):
        _require(_is_number(opt[key]) and opt[key] >= 0, f"optimizer.{key}={opt[key]} must be a number >= 0 (e.g. 1e-4)")

    tr = cfg.train
    _require(_is_number(tr.epochs) and tr.epochs >= 1, f"train.epochs={tr.epochs} must be >= 1")
    _require(tr.nan_policy in ("stop", "skip"), f"train.nan_policy={tr.nan_policy} must be 'stop' or 'skip'")
    _require(tr.grad_clip is None or (_is_number(tr.grad_clip) and tr.grad_clip > 0),
             f"train.grad_clip={tr.grad_clip} must be > 0, or null to disable clipping")
    for key in ("limit_train_batches", "limit_val_batches"):
        _require(tr[key] is None or (_is_number(tr[key]) and tr[key] >= 1), f"train.{key}={tr[key]} must be >= 1 or null")

    m = cfg.metrics
    _require(_is_number(m.pred_thresh) and 0 < m.pred_thresh < 1,
             f"metrics.pred_thresh={m.pred_thresh} must lie strictly between 0 and 1 (e.g. 0.5)")
    _require(_is_number(m.log_metrics_every) and m.log_metrics_every >= 1,
             f"metrics.log_metrics_every={m.log_metrics_every} must be >= 1")

    _require(cfg.logger.mode in ("online", "offline", "disabled"),
             f"logger.mode={cfg.logger.mode} must be online, offline or disabled")
    data = cfg.data
    _require(_is_number(data.max_history) and data.max_history >= 1,
             f"data.max_history={data.max_history} must be >= 1")


def build(node, **kwargs):
    """`hydra.utils.instantiate`, re-raising our own one-line errors instead of Hydra's wrapper."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        while cause is not None and not isinstance(cause, EmberFormerError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise
