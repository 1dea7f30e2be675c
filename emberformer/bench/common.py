"""python -m emberformer.bench [mode=step|loop] [model.name=PRESET] [model.key=value ...] [patch=N]

What the bench modes share: the model built from a conf/model preset (the training registry:
Hydra `_target_`), preset checks, peak memory and the names of the devices a result ran on.
"""

from __future__ import annotations

import inspect
import platform
import resource

import torch
from hydra.utils import get_class
from omegaconf import OmegaConf

from emberformer import config as config_lib
from emberformer.contract import InputSpec, build_model
from emberformer.errors import ConfigError


def presets(group: str) -> list[str]:
    """The preset names of a conf/ group, e.g. presets("hardware") -> ["auto", "cpu", ...]."""
    return sorted(p.stem for p in (config_lib.CONFIG_DIR / group).glob("*.yaml"))


def check_preset(group: str, name, key: str | None = None) -> None:
    """ConfigError unless `name` is a conf/<group> preset; `key` names the argument (default: the group)."""
    choices = presets(group)
    if name not in choices:
        raise ConfigError(f"{key or group}={name!r} is not a preset in conf/{group}; "
                          f"choose one of {', '.join(choices)}")


def build_preset(cfg, inputs: InputSpec, default: str = "emberformer"):
    """The conf/model preset `model.name` (else `default`) with the other `model.*` keys and
    `patch` over its values, built for `inputs` as training builds it; returns (model, its arguments
    with "name")."""
    overrides = OmegaConf.to_container(cfg.model, resolve=True)
    name = overrides.pop("name", default)
    check_preset("model", name, "model.name")
    if cfg.patch is not None:
        overrides["patch_size"] = cfg.patch
    preset = OmegaConf.to_container(config_lib.compose([f"model={name}"]).model, resolve=True)
    target = preset.pop("_target_")
    model_class = get_class(target)
    accepted = inspect.signature(model_class).parameters
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise ConfigError(f"model.{unknown[0]} is not an argument of {model_class.__name__}; "
                          f"it takes {', '.join(accepted)}")
    kwargs = OmegaConf.to_container(OmegaConf.merge(preset, overrides))
    model = build_model({"_target_": target, **kwargs}, inputs)
    if next(model.parameters(), None) is None:
        others = [p for p in presets("model") if p != name]
        raise ConfigError(f"model.name={name!r} has no weights: nothing to train or time; "
                          f"choose one of {', '.join(others)}")
    return model, {"name": name, **kwargs}


def model_fields(model, model_args: dict, device: torch.device) -> dict:
    """What the step and loop results say about the model and where it ran."""
    return {
        "model": model.describe(),
        "model_args": model_args,
        "params": sum(p.numel() for p in model.parameters()),
        "device": device_name(device),
        "threads": torch.get_num_threads(),
    }


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> dict:
    if device.type == "cuda":
        return {"peak_gpu_gb": torch.cuda.max_memory_allocated(device) / 1e9}
    # The process's high-water mark (DataLoader workers not included).
    return {"peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9}


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's with the instruction sets that compute bf16 natively (if any): what
    decides whether bf16 autocast is a fast path or an emulated, slower one."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from emberformer.training.hardware import native_bf16_cpu

    native = native_bf16_cpu()
    return f"{cpu_name()} ({'native bf16: ' + ', '.join(native) if native else 'no native bf16'})"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.machine()
