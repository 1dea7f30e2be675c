"""Every option of every config group composes, validates and instantiates; bad values fail up front."""

import re
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module

from emberformer import config as config_lib
from emberformer.contract import InputSpec, build_model, predict_logits
from emberformer.errors import ConfigError
from emberformer.training.optim import describe_rates, group_lrs

GROUPS = {group.name: sorted(p.stem for p in group.glob("*.yaml"))
          for group in config_lib.CONFIG_DIR.iterdir() if group.is_dir() and not group.name.startswith("_")}
CUDA_PRESETS = {"rtx3090_bs16", "rtx3090_bs12", "rtx3090_bs8", "h100"}


def make_cfg(*overrides: str):
    with initialize_config_module(config_module="conf", version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def test_config_tree_has_the_expected_groups():
    assert {"data", "model", "loss", "optimizer", "early_stopping", "hardware", "logger", "debug"} <= set(GROUPS)
    assert {"bce", "bce_dice", "focal_tversky"} <= set(GROUPS["loss"])
    assert {"default", "aggressive", "patient", "disabled"} <= set(GROUPS["early_stopping"])
    assert {"auto", "cpu", "rtx3090_bs16", "rtx3090_bs12", "h100"} <= set(GROUPS["hardware"])
    assert {"emberformer", "persistence", "resnet18_unet"} <= set(GROUPS["model"])


def test_defaults_follow_the_guide():
    cfg = make_cfg()
    assert (cfg.model.d_model, cfg.model.nhead, cfg.model.num_layers) == (96, 8, 4)
    assert (cfg.loss.bce_weight, cfg.loss.dice_weight) == (0.5, 0.5)
    es = cfg.early_stopping
    assert (es.enabled, es.patience, es.min_delta, es.monitor, es.mode) == (True, 10, 0.001, "val/f1", "max")
    assert (cfg.optimizer.lr_temporal, cfg.optimizer.weight_decay) == (1e-3, 1e-4)
    assert cfg.train.epochs == 50


@pytest.mark.parametrize(("overrides", "lr_spatial"), [
    ([], 1e-3),  # a decoder trained from scratch learns at lr_temporal
    (["optimizer.lr_temporal=2e-3"], 2e-3),
    (["model.spatial.pretrained=nvidia/mit-b1"], 1e-4),  # the guide's lower LR for pre-trained weights
    (["model.spatial.decoder=unet", "model.spatial.pretrained=true"], 1e-4),
    (["model.spatial.pretrained=nvidia/mit-b1", "optimizer.lr_spatial=3e-4"], 3e-4),  # explicit wins
    (["model=resnet18_unet"], 1e-3),
])
def test_lr_spatial_depends_on_a_pretrained_decoder(overrides, lr_spatial):
    assert make_cfg(*overrides).optimizer.lr_spatial == lr_spatial


@pytest.mark.parametrize("group,option", [(g, o) for g, opts in GROUPS.items() for o in opts
                                          if g not in ("model", "data", "debug", "hparams_search", "experiment")])
def test_every_option_composes_validates_and_instantiates(group, option):
    overrides = [f"{group}={option}"]
    if group == "hardware" and option in CUDA_PRESETS and not torch.cuda.is_available():
        cfg = make_cfg(*overrides)
        config_lib.validate(cfg)
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            config_lib.build(cfg.hardware)
        overrides.append("hardware.device=cpu")
    cfg = make_cfg(*overrides)
    config_lib.validate(cfg)
    obj = config_lib.build(cfg[group])
    if group == "optimizer":
        assert callable(obj)  # the loop passes the model
    else:
        assert obj is not None


def test_the_quickstart_is_one_named_recipe():
    # `make train` and the GPU check train this one definition (conf/experiment/quickstart.yaml).
    cfg = make_cfg("experiment=quickstart", "hardware=cpu")
    config_lib.validate(cfg)
    assert (cfg.train.epochs, cfg.hardware.batch_size, cfg.hardware.device) == (2, 8, "cpu")
    assert cfg.model.spatial.decoder == "unet" and cfg.train.test_after and cfg.optimizer.warmup_epochs == 0
    plain = make_cfg()  # python -m emberformer.train alone keeps the guide's defaults
    assert (plain.train.epochs, plain.hardware.batch_size, plain.model.spatial.decoder) == (50, 16, "segformer")
    makefile = (config_lib.CONFIG_DIR.parent / "Makefile").read_text()
    assert "QUICKSTART := experiment=quickstart hardware=cpu" in makefile


def test_the_convergence_recipe_follows_the_newly_burned_pixels_and_resumes_its_own_jobs():
    cfg = make_cfg("experiment=convergence", "model=utae")
    config_lib.validate(cfg)
    assert (cfg.early_stopping.monitor, cfg.early_stopping.patience) == ("val/growth_ap", 5)
    assert (cfg.train.epochs, cfg.train.resume) == (40, "auto")
    assert cfg.model._target_.endswith("UTAE")  # the recipe leaves the model to the command line


@pytest.mark.parametrize("dynamic", [0, 2])
@pytest.mark.parametrize("option", GROUPS["model"])
def test_every_model_option_builds_through_the_contract_and_the_banner_shows_its_rates(option, dynamic):
    overrides = [f"model={option}", "optimizer.lr=2e-3", "optimizer.lr_temporal=3e-3", "optimizer.lr_spatial=4e-4"]
    if option in ("emberformer", "emberformer_unet"):  # guide-sized ones are covered in tests/models; keep these small
        overrides += ["model.d_model=16", "model.nhead=2", "model.num_layers=1"]
    cfg = make_cfg(*overrides)
    inputs = InputSpec(static_names=tuple("abcdefg"), wind_names=("speed", "sin", "cos"),
                       dynamic_names=tuple(f"band{i}" for i in range(dynamic)))
    model = build_model(cfg.model, inputs).eval()
    batch = {"fire": torch.zeros(1, 2, 32, 32), "dynamic": torch.rand(1, 2, dynamic, 32, 32),
             "static": torch.zeros(1, 7, 32, 32), "wind": torch.zeros(1, 2, 3),
             "time_mask": torch.ones(1, 2, dtype=torch.bool)}
    assert predict_logits(model, batch).shape == (1, 1, 32, 32)

    optimizer, _ = config_lib.build(cfg.optimizer)(model, epochs=3)
    line = describe_rates(optimizer)
    if optimizer is None:
        assert option == "persistence" and line == "LR: none (nothing to train)"
        return
    shown = {name: float(rate) for name, rate in re.findall(r"LR (\w+): ([0-9.e+-]+)", line)}
    actual = {g["name"]: g["initial_lr"] for g in optimizer.param_groups}
    assert shown == pytest.approx(actual, rel=1e-2) and set(shown) == set(group_lrs(optimizer))
    two_groups = {"temporal": 3e-3, "spatial": 4e-4}
    expected = {"emberformer": two_groups, "emberformer_unet": two_groups, "emberformer_tiny": two_groups,
                "logistic": {"model": 0.05}}
    assert actual == pytest.approx(expected.get(option, {"model": 2e-3}))
    # Where a group's rate doesn't come from optimizer.lr_<its name>, the banner says where it does.
    assert line.endswith("(model.lr)" if option == "logistic" else "(optimizer.lr)" if "model" in actual else "e-04")


def test_data_options_compose():
    assert make_cfg("data=organized_spreads", "data.root=/x").data.root == "/x"
    assert make_cfg().data.root is None


def test_debug_fast_is_small():
    cfg = make_cfg("debug=fast")
    assert cfg.train.epochs == 2 and cfg.train.limit_train_batches == 2 and cfg.model.d_model < 96


def test_dice_weight_follows_bce_weight_unless_set():
    assert make_cfg("loss.bce_weight=0.3").loss.dice_weight == pytest.approx(0.7)
    assert make_cfg("loss.bce_weight=0.3", "loss.dice_weight=0.2").loss.dice_weight == 0.2


@pytest.mark.parametrize("override,key", [
    ("early_stopping.patience=-1", "early_stopping.patience=-1"),
    ("early_stopping.min_delta=-0.1", "early_stopping.min_delta"),
    ("early_stopping.monitor=val/banana", "early_stopping.monitor=val/banana"),
    ("early_stopping.mode=maximum", "early_stopping.mode=maximum"),
    ("hardware.batch_size=0", "hardware.batch_size=0"),
    ("optimizer.lr_temporal=-1e-3", "optimizer.lr_temporal"),
    ("metrics.pred_thresh=1.5", "metrics.pred_thresh=1.5"),
    ("train.epochs=0", "train.epochs=0"),
    ("logger.mode=sometimes", "logger.mode=sometimes"),
    ("train.nan_policy=ignore", "train.nan_policy=ignore"),
])
def test_invalid_values_fail_validation_with_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[")) as info:
        check_before_data(make_cfg(override))
    assert "\n" not in str(info.value)


def check_before_data(cfg) -> None:
    """What a training run checks before any data loads: `validate`, then each group's constructor."""
    config_lib.validate(cfg)
    for group in ("hardware", "loss", "early_stopping", "optimizer", "logger"):
        config_lib.build(cfg[group])


def test_negative_loss_weight_fails_at_instantiation():
    with pytest.raises(ConfigError, match="loss.bce_weight=-0.5"):
        config_lib.build(make_cfg("loss.bce_weight=-0.5", "loss.dice_weight=0.5").loss)


def test_conf_is_a_package_and_matches_config_dir():
    import conf

    assert Path(conf.__file__).parent == config_lib.CONFIG_DIR
