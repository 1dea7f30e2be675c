"""python -m emberformer.bench [mode=step|data|loop|all] [key=value ...]

Benchmark the training path: a model's train step, the data path alone, and the real loop.

    python -m emberformer.bench model.d_model=96 batch=4 size=416 patch=16 T=6 threads=2 steps=5 out=bench.json
    python -m emberformer.bench mode=data hardware=rtx3090_bs16 workers=4 [data.root=.../organized_spreads]
    python -m emberformer.bench mode=loop hardware=cpu steps=200 [model.name=PRESET] [model.key=value ...]
    python -m emberformer.bench mode=all out=bench.json

Arguments are key=value (`--key value` is the same). Every mode prints a table and writes `out` (JSON).

- `mode=step` (default) times forward + backward + AdamW on synthetic fires at given shapes.
  `model.name` picks a conf/model preset (default emberformer; emberformer_tiny, resnet18_unet, ...); other
  `model.*` keys override the preset's constructor arguments (e.g. model.spatial.decoder=unet,
  model.skip_quiet_patches=false). `size` is an int or HxW; `patch` is short for
  model.patch_size; `burn` is the fraction of the image burned at the last observed step (it
  sets how many patches are quiet). Prints the median s/step, samples/s, the split temporal /
  spatial / loss+optimizer and the peak memory (process peak RSS on CPU,
  torch.cuda.max_memory_allocated on GPU). The fast paths are switches: precision=bf16|fp16,
  compile=true, channels_last=true (the split is not measured when compiled: the stage hooks
  would break the graph). Compare paths in separate processes, one after the other, so that
  each has its own peak memory.
- `mode=data` times the data path alone: train batches from the cache through the DataLoader
  with a conf/hardware preset's batch_size, num_workers, pin_memory and persistent_workers
  (`hardware=cpu|auto|rtx3090_bs16|...`; override with batch=, workers=, pin_memory=,
  persistent_workers=), across epoch boundaries, so worker start-up counts as training sees it.
  For comparison it times `io_samples` samples from the cache against decoding their PNGs
  (emberformer.bench.io; io_samples=0 skips it). `data.*` keys are conf/data settings
  (data.root=..., data.max_history=...; default: the embedded dataset).
- `mode=loop` runs `steps` steps of real training (emberformer.training.loop.EpochRunner: the
  model, the `loss=` preset, AdamW from conf/optimizer, grad clipping, the preset's precision)
  fed by the real DataLoader, and reports ms/step, samples/s and the share of step time spent
  blocked in `next()` waiting for the next batch. Without `model.name` it trains emberformer_tiny
  on a CPU (the debug=fast model, 0.3M parameters: a default run takes about a minute on a
  2-core machine) and emberformer on a GPU.
- `mode=all` runs data, loop and step in turn (step last: its large model would otherwise set
  the process's peak RSS for the others) and writes {"data": ..., "loop": ..., "step": ...}.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from emberformer.bench.common import check_preset
from emberformer.bench.data import run_data
from emberformer.bench.loop import run_loop
from emberformer.bench.step import run_step
from emberformer.bench.tables import FORMATS, format_summary
from emberformer.cli import given_keys, parse_arguments, run_command
from emberformer.errors import ConfigError, check_positive_int, exit_on_user_error

MODES = ("step", "data", "loop")
ALL_ORDER = ("data", "loop", "step")
RUNNERS = {"step": run_step, "data": run_data, "loop": run_loop}

# Per-mode defaults, under the user's arguments: `steps` counts timed train steps (step, loop)
# or DataLoader batches (data); the first `warmup` steps or batches are run but not timed.
MODE_DEFAULTS = {
    "step": {"batch": 4, "steps": 5, "warmup": 1},
    "data": {"steps": 200, "warmup": 1},
    "loop": {"steps": 200, "warmup": 5},
}
_COMMON_KEYS = {"mode", "steps", "warmup", "threads", "seed", "out"}
_LOADER_KEYS = {"hardware", "batch", "workers", "pin_memory", "persistent_workers", "data"}
# Which arguments each mode reads: one that the chosen mode ignores is an error, not a silent no-op.
MODE_KEYS = {
    "step": _COMMON_KEYS | {"model", "batch", "size", "patch", "T", "channels", "wind_features", "burn", "lr",
                            "device", "precision", "compile", "channels_last"},
    "data": _COMMON_KEYS | _LOADER_KEYS | {"io_samples"},
    "loop": _COMMON_KEYS | _LOADER_KEYS | {"model", "patch", "loss", "device"},
}
EXAMPLE = "batch=4 size=416 model.d_model=96"


@dataclasses.dataclass
class BenchArgs:
    mode: str = "step"  # step | data | loop | all
    # model.name: a conf/model preset (step: emberformer; loop: emberformer_tiny on CPU, emberformer
    # on CUDA); the other model.* keys override its constructor arguments.
    model: dict[str, Any] = dataclasses.field(default_factory=dict)
    batch: int | None = None  # step: 4; data, loop: the hardware preset's batch_size
    size: str = "416"  # side, or HxW
    patch: int | None = None  # short for model.patch_size
    T: int = 6
    channels: int = 7
    wind_features: int = 3
    burn: float = 0.1  # fraction of the image burned at the last observed step
    threads: int = 0  # 0 = torch's default (or the hardware preset's num_threads)
    steps: int | None = None  # see MODE_DEFAULTS
    warmup: int | None = None
    lr: float = 1e-3  # step; the loop takes its LRs from conf/optimizer
    # step: the fast paths, as the hardware presets set them for training (the loop takes the preset's).
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast; fp16 with loss scaling)
    compile: bool = False  # torch.compile the model
    channels_last: bool = False  # channels_last memory format for the model's conv weights
    device: str = "auto"  # auto | cpu | cuda; for the loop, auto = the hardware preset's device
    seed: int = 0
    hardware: str = "auto"  # data, loop: a conf/hardware preset (auto, cpu, rtx3090_bs16, h100, ...)
    workers: int | None = None  # null = the preset's num_workers
    pin_memory: bool | None = None  # null = the preset's
    persistent_workers: bool | None = None  # null = the preset's
    data: dict[str, Any] = dataclasses.field(default_factory=dict)  # conf/data keys (root, max_history, ...)
    loss: str = "bce_dice"  # loop: a conf/loss preset
    io_samples: int = 200  # data: samples timed from the cache and from PNGs; 0 skips that comparison
    out: str | None = None  # JSON path


def mode_configs(argv: list[str]) -> dict[str, DictConfig]:
    """The validated arguments of each mode to run, in run order."""
    args = parse_arguments(argv, BenchArgs, example=EXAMPLE)  # unknown keys and bad types fail here
    given = given_keys(argv)
    mode = args.mode
    if mode not in (*MODES, "all"):
        raise ConfigError(f"mode={mode!r} is unknown; choose one of {', '.join(MODES)}, all")
    modes = ALL_ORDER if mode == "all" else (mode,)
    unused = sorted(given - set().union(*(MODE_KEYS[m] for m in modes)))
    if unused:
        users = [m for m in MODES if unused[0] in MODE_KEYS[m]]
        raise ConfigError(f"{unused[0]} does not apply to mode={mode}; it is read by mode={' and mode='.join(users)}")

    user = OmegaConf.masked_copy(args, sorted(given))
    configs = {}
    for m in modes:
        cfg = OmegaConf.merge(OmegaConf.structured(BenchArgs), MODE_DEFAULTS[m], user, {"mode": m})
        _validate(cfg)
        configs[m] = cfg
    return configs


def _validate(cfg) -> None:
    for key in ("T", "channels", "wind_features", "steps"):
        check_positive_int(cfg[key], key)
    if cfg.batch is not None:
        check_positive_int(cfg.batch, "batch")
    for key in ("warmup", "threads", "io_samples", "workers"):
        if cfg[key] is not None and cfg[key] < 0:
            raise ConfigError(f"{key}={cfg[key]} must be >= 0")
    if not 0.0 < cfg.burn < 1.0:
        raise ConfigError(f"burn={cfg.burn} must be in (0, 1)")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device={cfg.device!r} must be auto, cpu or cuda")
    if cfg.precision not in ("fp32", "bf16", "fp16"):
        raise ConfigError(f"precision={cfg.precision!r} must be fp32, bf16 or fp16")
    if "name" in cfg.model:
        check_preset("model", cfg.model.name, "model.name")
    if cfg.mode != "step":
        check_preset("hardware", cfg.hardware)
        check_preset("loss", cfg.loss)


def run_cli(argv: list[str]) -> dict:
    """Parse the arguments, run the chosen mode(s), print their tables, write `out` if given.

    Returns the mode's result, or {mode: result} for mode=all.
    """
    configs = mode_configs(argv)
    results = {}
    for mode, cfg in configs.items():
        results[mode] = RUNNERS[mode](cfg)
        print(FORMATS[mode](results[mode]), flush=True)
    if len(results) > 1:
        print(format_summary(results))
    result = results if len(results) > 1 else results[next(iter(results))]
    out = next(iter(configs.values())).out
    if out:
        Path(out).write_text(json.dumps(result, indent=2) + "\n")
    return result


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict | None:
    """The command: `--help` prints this module's docstring."""
    return run_command(run_cli, __doc__, argv)
