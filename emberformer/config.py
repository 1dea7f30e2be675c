"""Config composition helpers and the up-front validation of a composed config.

`validate` and the group constructors run before any data loads, so a typo costs seconds, not an epoch.
"""

from __future__ import annotations

import math
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from emberformer.errors import EmberFormerError, is_number, is_whole, require

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

def validate(cfg: DictConfig) -> None:
    """Check what no group's constructor owns: that every number is finite (nan and inf pass YAML
    and each group's `>= 0` checks), the seed, and the `train.*` and `metrics.*` keys of conf/train.yaml.

    Each group checks its own values when it is built (EarlyStopping, Hardware, AdamWRecipe,
    the losses, WandbLogger, FireSpreadData, the models), and the training run builds them before
    any data loads. Raises ConfigError (one line: key, value, what it must be)."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    require(not missing, f"{missing[0] if missing else ''} is required and not set (???); give it on the command "
            f"line, e.g. {missing[0] if missing else ''}=/path/to/your/data")
    for key, value in _numbers(OmegaConf.to_container(cfg, resolve=True)):
        require(math.isfinite(value), f"{key}={value} is not a finite number; give a finite value")
    # numpy seeds are 32-bit; each DDP rank adds its rank.
    require(is_whole(cfg.seed, 0) and cfg.seed < 2**32 - 1024, f"seed={cfg.seed} must be a whole number "
            "between 0 and 2**32 - 1024 (e.g. seed=42)")
    tr = cfg.train
    require(is_number(tr.epochs) and tr.epochs >= 1, f"train.epochs={tr.epochs} must be >= 1")
    require(tr.nan_policy in ("stop", "skip"), f"train.nan_policy={tr.nan_policy} must be 'stop' or 'skip'")
    require(tr.grad_clip is None or (is_number(tr.grad_clip) and tr.grad_clip > 0),
            f"train.grad_clip={tr.grad_clip} must be > 0, or null to disable clipping")
    for key in ("limit_train_batches", "limit_val_batches"):
        require(tr[key] is None or (is_number(tr[key]) and tr[key] >= 1), f"train.{key}={tr[key]} must be >= 1 or null")

    m = cfg.metrics
    require(is_number(m.pred_thresh) and 0 < m.pred_thresh < 1,
            f"metrics.pred_thresh={m.pred_thresh} must lie strictly between 0 and 1 (e.g. 0.5)")
    require(is_number(m.log_metrics_every) and m.log_metrics_every >= 1,
            f"metrics.log_metrics_every={m.log_metrics_every} must be >= 1")


def _numbers(tree, prefix: str = ""):
    """(dotted key, value) of every number in a resolved config tree."""
    if is_number(tree):
        yield prefix, float(tree)
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from _numbers(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _numbers(value, f"{prefix}[{i}]")


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


def compose(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """conf/train.yaml composed with `overrides`, as `python -m emberformer.train` would, without a run.

    For the commands that reuse the training presets outside a Hydra run (bench, tests)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=list(overrides))


def model_preset(name: str) -> dict:
    """The constructor arguments of conf/model/<name>.yaml (its defaults applied, `_target_` dropped):
    the one definition of, e.g., the tiny EmberFormer that debug=fast, bench and the tests share."""
    node = OmegaConf.to_container(compose([f"model={name}"]).model, resolve=True)
    node.pop("_target_")
    return node
