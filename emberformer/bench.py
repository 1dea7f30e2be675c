"""Benchmark the training path: a model's train step, the data path alone, and the real loop.

    python -m emberformer.bench model.d_model=96 batch=4 size=416 patch=16 T=6 threads=2 steps=5 out=bench.json
    python -m emberformer.bench mode=data hardware=rtx3090_bs16 workers=4 [data.root=.../organized_spreads]
    python -m emberformer.bench mode=loop hardware=cpu steps=200 [model.key=value ...]
    python -m emberformer.bench mode=all out=bench.json

Arguments are key=value (OmegaConf dotlist). Every mode prints a table and writes `out` (JSON).

- `mode=step` (default) times forward + backward + AdamW on synthetic fires at given shapes.
  `model.name` picks emberformer (default) or unet; other `model.*` keys are constructor
  arguments (e.g. model.spatial.decoder=unet, model.skip_quiet_patches=false). `size` is an int
  or HxW; `patch` is short for model.patch_size; `burn` is the fraction of the image burned at
  the last observed step (it sets how many patches are quiet). Prints the median s/step,
  samples/s, the split temporal / spatial / loss+optimizer and the peak memory (process peak
  RSS on CPU, torch.cuda.max_memory_allocated on GPU). The fast paths are switches:
  precision=bf16|fp16, compile=true, channels_last=true (the split is not measured when
  compiled: the stage hooks would break the graph). Compare paths in separate processes, one
  after the other, so that each has its own peak memory.
- `mode=data` times the data path alone: train batches from the cache through the DataLoader
  with a conf/hardware preset's batch_size, num_workers, pin_memory and persistent_workers
  (`hardware=cpu|auto|rtx3090_bs16|...`; override with batch=, workers=, pin_memory=,
  persistent_workers=), across epoch boundaries, so worker start-up counts as training sees it.
  For comparison it times `io_samples` samples from the cache against decoding their PNGs
  (emberformer.data.bench_io; io_samples=0 skips it). `data.*` keys are conf/data settings
  (data.root=..., data.max_history=...; default: the embedded dataset).
- `mode=loop` runs `steps` steps of real training (the train loop's EpochRunner: the model,
  the `loss=` preset, AdamW from conf/optimizer, grad clipping, the preset's precision) fed by
  the real DataLoader, and reports ms/step, samples/s and the share of step time spent blocked
  in `next()` waiting for the next batch. On a CPU the default EmberFormer is small (the
  debug=fast sizes, 0.3M parameters) so that a default run takes about a minute on a 2-core
  machine; `model.*` keys pick any other.
- `mode=all` runs data, loop and step in turn (step last: its large model would otherwise set
  the process's peak RSS for the others) and writes {"data": ..., "loop": ..., "step": ...}.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from emberformer import config as config_lib
from emberformer.errors import ConfigError, DataError, exit_on_user_error
from emberformer.models import EmberFormer, UNetBaseline
from emberformer.models.base import check_positive_int

MODELS = {"emberformer": EmberFormer, "unet": UNetBaseline}
MODES = ("step", "data", "loop")
ALL_ORDER = ("data", "loop", "step")

# Per-mode defaults, under the user's arguments: `steps` counts timed train steps (step, loop)
# or DataLoader batches (data); the first `warmup` steps or batches are run but not timed.
MODE_DEFAULTS = {
    "step": {"batch": 4, "steps": 5, "warmup": 1},
    "data": {"steps": 200, "warmup": 1},
    "loop": {"steps": 200, "warmup": 5},
}
# The loop's EmberFormer on a CPU: conf/debug/fast.yaml's sizes; 200 steps of batch 16 take
# about a minute on a 2-core machine.
SMALL_CPU_MODEL = {
    "d_model": 32, "nhead": 4, "num_layers": 1, "dim_feedforward": 64,
    "spatial": {"segformer_config": {"hidden_sizes": [16, 16, 32, 32], "num_attention_heads": [1, 1, 2, 2],
                                     "decoder_hidden_size": 32}},
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


@dataclasses.dataclass
class BenchArgs:
    mode: str = "step"  # step | data | loop | all
    # model.name picks the model; the other model.* keys are its constructor's arguments.
    model: dict[str, Any] = dataclasses.field(default_factory=lambda: {"name": "emberformer"})
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


# --------------------------------------------------------------------------------------------
# mode=step: one train step on a synthetic batch
# --------------------------------------------------------------------------------------------
def synthetic_batch(batch: int, steps: int, height: int, width: int, channels: int, wind_features: int,
                    burn: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Discs growing from random ignitions to cover `burn` of the image at the last step."""
    ys = torch.arange(height, dtype=torch.float32)[:, None]
    xs = torch.arange(width, dtype=torch.float32)[None, :]
    centre = torch.rand(batch, 2, generator=generator) * torch.tensor([height, width])
    final_radius = math.sqrt(burn * height * width / math.pi)
    radii = final_radius * torch.arange(1, steps + 2, dtype=torch.float32) / steps  # steps + target
    dist = ((ys - centre[:, 0, None, None]) ** 2 + (xs - centre[:, 1, None, None]) ** 2).sqrt()  # [B, H, W]
    frames = (dist[:, None] <= radii[None, :, None, None]).float()  # [B, T+1, H, W]
    return {
        "fire": frames[:, :steps],
        "target": frames[:, steps:],
        "static": torch.rand(batch, channels, height, width, generator=generator),
        "wind": torch.randn(batch, steps, wind_features, generator=generator),
        "time_mask": torch.ones(batch, steps, dtype=torch.bool),
    }


class StageClock:
    """Wall-clock split of a train step into the temporal stage (forward and backward) and the
    rest of the model, from hooks on `model.temporal` (absent for non-temporal models)."""

    def __init__(self, model: torch.nn.Module, sync, split: bool = True):
        self.sync = sync
        self.split = split
        self.marks: dict[str, float] = {}
        temporal = getattr(model, "temporal", None)
        if temporal is not None and split:
            temporal.register_forward_pre_hook(lambda *_: self.mark("temporal_fwd_start"))
            temporal.register_forward_hook(self._after_temporal)

    def mark(self, key: str) -> None:
        self.sync()
        self.marks[key] = time.perf_counter()

    def _after_temporal(self, module, inputs, output):
        self.mark("temporal_fwd_end")
        if output.requires_grad:
            # Fires once the spatial stage has sent all its gradient back to the features.
            output.register_hook(lambda grad: self.mark("temporal_bwd_start"))

    def split_ms(self) -> dict[str, float] | None:
        if not self.split:
            return None
        m = self.marks
        forward = m["forward_end"] - m["start"]
        backward = m["backward_end"] - m["loss_end"]
        temporal_fwd = m.get("temporal_fwd_end", 0.0) - m.get("temporal_fwd_start", 0.0)
        temporal_bwd = m["backward_end"] - m.get("temporal_bwd_start", m["backward_end"])
        return {
            "temporal": 1e3 * (temporal_fwd + temporal_bwd),
            "spatial": 1e3 * (forward - temporal_fwd + backward - temporal_bwd),
            "loss_optimizer": 1e3 * (m["loss_end"] - m["forward_end"] + m["step_end"] - m["backward_end"]),
        }


def _model_fields(model, model_args: dict, device: torch.device) -> dict:
    """What the step and loop results say about the model and where it ran."""
    return {
        "model": model.describe(),
        "model_args": model_args,
        "params": sum(p.numel() for p in model.parameters()),
        "device": _device_name(device),
        "threads": torch.get_num_threads(),
    }


def run_step(cfg) -> dict:
    from emberformer.training.hardware import Hardware

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but torch sees no CUDA device; use device=cpu")
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          "cpu" if cfg.device == "auto" else cfg.device)
    # The loop's own autocast, loss scaling, memory format and compilation: the step times what training runs.
    hardware = Hardware(device=str(device), precision=cfg.precision, num_threads=None,
                        channels_last=cfg.channels_last, compile=cfg.compile)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    height, width = _parse_size(cfg.size)
    torch.manual_seed(cfg.seed)

    model, model_args = _build_model(cfg, cfg.channels, cfg.wind_features)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.param_groups(cfg.lr, cfg.lr, 0.01))
    scaler = hardware.grad_scaler()
    trained = hardware.prepare(model)

    generator = torch.Generator().manual_seed(cfg.seed)
    batch = synthetic_batch(cfg.batch, cfg.T, height, width, cfg.channels, cfg.wind_features, cfg.burn, generator)
    batch = {k: v.to(device) for k, v in batch.items()}

    _reset_peak_memory(device)
    clock = StageClock(model, sync, split=not cfg.compile)
    times, cpu_times, splits = [], [], []
    for step in range(cfg.warmup + cfg.steps):
        clock.marks.clear()
        cpu_start = time.process_time()
        clock.mark("start")
        with hardware.autocast():
            logits = trained(batch["fire"], batch["static"], batch["wind"], batch["time_mask"])
            clock.mark("forward_end")
            loss = F.binary_cross_entropy_with_logits(logits.float(), batch["target"])
        clock.mark("loss_end")
        scaler.scale(loss).backward()
        clock.mark("backward_end")
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        clock.mark("step_end")
        if step >= cfg.warmup:
            times.append(clock.marks["step_end"] - clock.marks["start"])
            cpu_times.append(time.process_time() - cpu_start)
            splits.append(clock.split_ms())

    median = statistics.median(times)
    return {
        "mode": "step",
        **_model_fields(model, model_args, device),
        "shape": {"batch": cfg.batch, "T": cfg.T, "height": height, "width": width, "channels": cfg.channels},
        "precision": cfg.precision,
        "compile": bool(cfg.compile),
        "channels_last": bool(cfg.channels_last),
        "burn": cfg.burn,
        "steps": cfg.steps,
        "median_s_per_step": median,
        "samples_per_s": cfg.batch / median,
        # Process CPU time: steadier than wall time on a shared machine (exact work at threads=1).
        "median_cpu_s_per_step": statistics.median(cpu_times),
        "ms": None if splits[0] is None else {k: statistics.median(s[k] for s in splits) for k in splits[0]},
        "torch": torch.__version__,
        **_peak_memory(device),
    }


# --------------------------------------------------------------------------------------------
# mode=data and mode=loop: the real DataLoader
# --------------------------------------------------------------------------------------------
class BatchTiming(NamedTuple):
    wait_s: float  # blocked getting the batch; an epoch's first also pays `iter()` (starting workers)
    work_s: float  # from its arrival until the loop asked for the next one (the train step, or nothing)
    cpu_s: float  # this process's CPU time over both (DataLoader workers not included)
    samples: int

    @property
    def total_s(self) -> float:
        return self.wait_s + self.work_s


class BatchClock:
    """Times the batches a loop draws from a DataLoader, epoch after epoch (`steps`, one
    BatchTiming per batch)."""

    def __init__(self):
        self.steps: list[BatchTiming] = []

    def epoch(self, loader, limit: int) -> _TimedEpoch:
        """An iterable over at most `limit` batches of one pass over `loader`."""
        return _TimedEpoch(loader, limit, self.steps)

    def draw(self, loader, count: int, on_epoch=None) -> int:
        """Draw `count` batches in total, epoch after epoch; `on_epoch(epoch, batches)` consumes
        each epoch's batches (default: just fetch them). Returns the number of epochs begun."""
        epoch = 0
        while len(self.steps) < count:
            epoch += 1
            batches = self.epoch(loader, count - len(self.steps))
            if on_epoch is None:
                for _ in batches:
                    pass
            else:
                on_epoch(epoch, batches)
        return epoch


class _TimedEpoch:
    def __init__(self, loader, limit: int, records: list):
        self.loader, self.limit, self.records = loader, limit, records

    def __len__(self) -> int:
        return min(len(self.loader), self.limit)

    def __iter__(self):
        start, cpu_start = time.perf_counter(), time.process_time()
        batches = iter(self.loader)
        for _ in range(len(self)):
            batch = next(batches)
            arrived = time.perf_counter()
            yield batch
            done, cpu_done = time.perf_counter(), time.process_time()  # the next batch is asked for
            self.records.append(BatchTiming(arrived - start, done - arrived, cpu_done - cpu_start,
                                            len(batch["target"])))
            start, cpu_start = done, cpu_done


def compose_train_config(cfg) -> DictConfig:
    """conf/train.yaml with the chosen hardware and loss presets and the `data.*` arguments."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(config_lib.CONFIG_DIR), version_base="1.3"):
        composed = compose(config_name="train", overrides=[f"hardware={cfg.hardware}", f"loss={cfg.loss}"])
    try:
        composed.data = OmegaConf.merge(composed.data, cfg.data)
    except ConfigKeyError as err:
        keys = ", ".join(k for k in composed.data if not k.startswith("_"))
        raise ConfigError(f"{err.full_key} is not a data setting; conf/data takes {keys}") from None
    except OmegaConfBaseException as err:
        raise ConfigError(f"{err.full_key}: {str(err).splitlines()[0]}") from None
    return composed


def build_hardware(node: DictConfig, cfg, loader_only: bool):
    """The hardware preset with the bench's overrides applied."""
    node = node.copy()
    overrides = {"batch_size": cfg.batch, "num_workers": cfg.workers, "pin_memory": cfg.pin_memory,
                 "persistent_workers": cfg.persistent_workers, "num_threads": cfg.threads or None}
    for key, value in overrides.items():
        if value is not None:
            node[key] = value
    if cfg.device != "auto":
        node.device = cfg.device
    if loader_only and str(node.device).startswith("cuda") and not torch.cuda.is_available():
        node.device = "cpu"  # the data path needs only a GPU preset's loader settings
    return config_lib.build(node)


def loader_kwargs(hardware) -> dict:
    kwargs = hardware.loader_kwargs()
    # Pinning only speeds up copies to a GPU; without one torch warns and ignores it.
    kwargs["pin_memory"] = kwargs["pin_memory"] and hardware.is_cuda
    return kwargs


def train_loader(data, cfg, hardware):
    kwargs = loader_kwargs(hardware)
    loader = data.loader("train", seed=cfg.seed, **kwargs)
    if len(loader) == 0:
        raise DataError(f"{data.root_path}: the train split has no samples to time; give data.root a folder "
                        "with more sequences or lower data.val_fraction / data.test_fraction")
    return loader, kwargs


def run_data(cfg) -> dict:
    from emberformer.data.bench_io import measure_io

    composed = compose_train_config(cfg)
    hardware = build_hardware(composed.hardware, cfg, loader_only=True)  # sets `threads`
    data = config_lib.build(composed.data).setup()
    loader, kwargs = train_loader(data, cfg, hardware)

    clock = BatchClock()
    epochs = clock.draw(loader, cfg.warmup + cfg.steps)
    timed = clock.steps[cfg.warmup:]
    seconds = sum(b.total_s for b in timed)
    result = {
        "mode": "data",
        "data": _data_summary(data, loader),
        "hardware": {"preset": cfg.hardware, **kwargs},
        "device": _cpu_name(),
        "batches": cfg.steps,
        "warmup": cfg.warmup,
        "epochs": epochs,
        "first_batch_s": clock.steps[0].wait_s,
        "loader_samples_per_s": sum(b.samples for b in timed) / seconds,
        "ms_per_batch": 1e3 * seconds / len(timed),
        "max_batch_ms": 1e3 * max(b.total_s for b in timed),
    }
    if cfg.io_samples:
        d = composed.data
        io = measure_io(d.root, samples=cfg.io_samples, max_history=d.max_history, batch_size=kwargs["batch_size"],
                        cache_dir=d.cache_dir, max_sequences=d.max_sequences, seed=cfg.seed)
        result["io"] = {k: v for k, v in io.items() if k not in ("root", "max_history")}
    return result


def run_loop(cfg) -> dict:
    from emberformer.train import EpochRunner
    from emberformer.training.distributed import DistEnv
    from emberformer.training.wandb_logger import WandbLogger

    composed = compose_train_config(cfg)
    hardware = build_hardware(composed.hardware, cfg, loader_only=False)
    torch.manual_seed(cfg.seed)
    loss_fn = config_lib.build(composed.loss)
    data = config_lib.build(composed.data).setup()
    model, model_args = _build_model(cfg, data.num_static_channels, data.wind_features,
                                     defaults=None if hardware.is_cuda else SMALL_CPU_MODEL)
    model.to(hardware.device)
    optimizer, _ = config_lib.build(composed.optimizer)(model, epochs=1)
    if loss_fn.needs_positive_fraction():
        loss_fn.set_positive_fraction(data.positive_fraction("train"))
    loader, kwargs = train_loader(data, cfg, hardware)
    trained = hardware.prepare(model)  # as train.py does: memory format and compilation are timed too

    total = cfg.warmup + cfg.steps
    composed.train.epochs = math.ceil(total / len(loader))  # for the progress bar's "Epoch i/N"
    # A logger that was never started records nothing: the loop's logging code runs, no files.
    runner = EpochRunner(trained, loss_fn, optimizer, hardware.grad_scaler(), hardware,
                         WandbLogger(mode="disabled"), DistEnv(), composed)
    device = torch.device(hardware.device)
    _reset_peak_memory(device)
    last_epoch: dict = {}

    def train_epoch(epoch: int, batches) -> None:
        nonlocal last_epoch
        model.on_epoch_start(epoch)
        last_epoch = runner.run(batches, epoch, training=True)

    clock = BatchClock()
    start = time.perf_counter()
    epochs = clock.draw(loader, total, train_epoch)
    wall = time.perf_counter() - start
    timed = clock.steps[cfg.warmup:]
    waits = [b.wait_s for b in timed]
    step_s = [b.total_s for b in timed]
    busy = sum(step_s)
    return {
        "mode": "loop",
        **_model_fields(model, model_args, device),
        "hardware": {"preset": cfg.hardware, "device": hardware.device, "precision": hardware.precision,
                     **kwargs, "channels_last": bool(hardware.channels_last), "compile": bool(hardware.compile)},
        "data": _data_summary(data, loader),
        "loss": loss_fn.describe(),
        "steps": cfg.steps,
        "warmup": cfg.warmup,
        "epochs": epochs,
        "median_ms_per_step": 1e3 * statistics.median(step_s),
        "mean_ms_per_step": 1e3 * busy / len(timed),
        # Steadier than wall time on a shared machine.
        "median_cpu_ms_per_step": 1e3 * statistics.median(b.cpu_s for b in timed),
        "samples_per_s": sum(b.samples for b in timed) / busy,
        "data_wait_share": sum(waits) / busy,
        "median_wait_ms": 1e3 * statistics.median(waits),
        "max_wait_ms": 1e3 * max(waits),
        # Everything, warm-up steps and the end-of-epoch metric work included.
        "wall_s": wall,
        "last_epoch_loss": last_epoch.get("loss"),
        "torch": torch.__version__,
        **_peak_memory(device),
    }


RUNNERS = {"step": run_step, "data": run_data, "loop": run_loop}


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------
def _build_model(cfg, in_static_channels: int, wind_features: int, defaults: dict | None = None):
    """The model from `model.*` (over `defaults` when it is an EmberFormer); returns (model, its arguments)."""
    merged = OmegaConf.merge(defaults or {}, cfg.model) if cfg.model.name == "emberformer" else cfg.model
    model_kwargs = OmegaConf.to_container(merged, resolve=True)
    name = model_kwargs.pop("name")
    if name not in MODELS:
        raise ConfigError(f"model.name={name!r} is unknown; choose one of {', '.join(MODELS)}")
    if cfg.patch is not None:
        model_kwargs["patch_size"] = cfg.patch
    accepted = inspect.signature(MODELS[name]).parameters
    unknown = sorted(set(model_kwargs) - set(accepted))
    if unknown:
        raise ConfigError(f"model.{unknown[0]} is not an argument of {MODELS[name].__name__}; "
                          f"it takes {', '.join(accepted)}")
    model = MODELS[name](in_static_channels=in_static_channels, wind_features=wind_features, **model_kwargs)
    return model, {"name": name, **model_kwargs}


def _data_summary(data, loader) -> dict:
    return {"root": str(data.root_path), "train_samples": len(loader.dataset), "max_history": data.max_history}


def _reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_memory(device: torch.device) -> dict:
    if device.type == "cuda":
        return {"peak_gpu_gb": torch.cuda.max_memory_allocated(device) / 1e9}
    # The process's high-water mark (DataLoader workers not included).
    return {"peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9}


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.machine()


def _parse_size(size: str) -> tuple[int, int]:
    parts = size.lower().split("x") if "x" in size.lower() else [size, size]
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(f"size={size!r} must be an integer or HxW, e.g. 416 or 400x600")
    return int(parts[0]), int(parts[1])


def _check_preset(group: str, name: str) -> None:
    choices = sorted(p.stem for p in (config_lib.CONFIG_DIR / group).glob("*.yaml"))
    if name not in choices:
        raise ConfigError(f"{group}={name!r} is not a preset in conf/{group}; choose one of {', '.join(choices)}")


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------
def _memory(result: dict) -> str:
    return (f"peak GPU memory {result['peak_gpu_gb']:.2f} GB" if "peak_gpu_gb" in result
            else f"peak RSS {result['peak_rss_gb']:.2f} GB")


def _loader_line(hw: dict) -> str:
    return (f"hardware={hw['preset']}: batch {hw['batch_size']}, {hw['num_workers']} workers, "
            f"pin_memory {str(hw['pin_memory']).lower()}, persistent_workers {str(hw['persistent_workers']).lower()}")


def _format_step(result: dict) -> str:
    ms = result["ms"]
    shape = result["shape"]
    paths = [result["precision"]] + [name for name in ("compile", "channels_last") if result[name]]
    split = ("split not measured (compiled)" if ms is None else
             f"temporal {ms['temporal']:.0f} ms, spatial {ms['spatial']:.0f} ms, "
             f"loss+optimizer {ms['loss_optimizer']:.0f} ms")
    return (
        f"[step] {result['model']} | {result['params'] / 1e6:.2f}M params | {result['device']}, "
        f"{result['threads']} threads, {'+'.join(paths)} | "
        f"batch {shape['batch']} x T={shape['T']} x {shape['height']}x{shape['width']}\n"
        f"median {result['median_s_per_step']:.3f} s/step ({result['samples_per_s']:.2f} samples/s, "
        f"{result['median_cpu_s_per_step']:.3f} CPU s/step) | {split} | {_memory(result)}"
    )


def _format_data(result: dict) -> str:
    data = result["data"]
    lines = [
        (f"[data] {data['root']} | {data['train_samples']} train samples, max_history {data['max_history']}\n"
         f"  {_loader_line(result['hardware'])}"),
        (f"  DataLoader, cache    {result['loader_samples_per_s']:9.1f} samples/s | "
         f"{result['ms_per_batch']:.1f} ms/batch over {result['batches']} batches, {result['epochs']} epochs "
         f"(slowest {result['max_batch_ms']:.0f} ms; "
         f"first batch after {result['first_batch_s']:.2f} s)"),
    ]
    if "io" in result:
        io = result["io"]
        lines += [
            (f"  one process, cache   {io['cache_samples_per_s']:9.1f} samples/s | "
             f"{io['cache_collated_samples_per_s']:.1f} collated into batches"),
            (f"  one process, PNGs    {io['png_samples_per_s']:9.1f} samples/s | the cache is {io['speedup']:.1f}x "
             f"faster ({io['samples']} samples, mean history {io['mean_history']})"),
        ]
    return "\n".join(lines)


def _format_loop(result: dict) -> str:
    hw, data = result["hardware"], result["data"]
    return "\n".join([
        (f"[loop] {result['model']} | {result['params'] / 1e6:.2f}M params | {result['device']}, {hw['device']}, "
         f"{hw['precision']}, {result['threads']} threads | loss {result['loss']}"),
        f"  {_loader_line(hw)} | {data['train_samples']} train samples, max_history {data['max_history']}",
        f"  steps                {result['steps']} after {result['warmup']} warm-up, {result['epochs']} epochs",
        (f"  ms/step              median {result['median_ms_per_step']:.1f}, mean {result['mean_ms_per_step']:.1f} "
         f"(median CPU {result['median_cpu_ms_per_step']:.1f} ms)"),
        f"  samples/s            {result['samples_per_s']:.1f}",
        (f"  waiting for data     {100 * result['data_wait_share']:.1f}% of step time "
         f"(median {result['median_wait_ms']:.1f} ms, max {result['max_wait_ms']:.0f} ms per batch)"),
        f"  wall                 {result['wall_s']:.1f} s (warm-up and epoch ends included) | {_memory(result)}",
    ])


def _format_summary(results: dict) -> str:
    rows = [("mode", "samples/s", "ms/step", "")]
    if "data" in results:
        r = results["data"]
        rows.append(("data", f"{r['loader_samples_per_s']:.1f}", f"{r['ms_per_batch']:.1f}",
                     "the DataLoader alone, per batch"))
    if "loop" in results:
        r = results["loop"]
        rows.append(("loop", f"{r['samples_per_s']:.1f}", f"{r['mean_ms_per_step']:.1f}",
                     f"real training, {100 * r['data_wait_share']:.1f}% of it waiting for data"))
    if "step" in results:
        r = results["step"]
        rows.append(("step", f"{r['samples_per_s']:.2f}", f"{1e3 * r['median_s_per_step']:.1f}",
                     "one train step on a synthetic batch"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}  {d}".rstrip() for a, b, c, d in rows)


FORMATS = {"step": _format_step, "data": _format_data, "loop": _format_loop}


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def _config_error(err: OmegaConfBaseException) -> ConfigError:
    key = getattr(err, "full_key", None) or "?"
    return ConfigError(f"bench argument {key}: {str(err).splitlines()[0]}")


def mode_configs(args: list[str]) -> dict[str, DictConfig]:
    """The validated arguments of each mode to run, in run order."""
    bad = [a for a in args if "=" not in a]
    if bad:
        raise ConfigError(f"argument {bad[0]!r} is not key=value; e.g. batch=4 size=416 model.d_model=96")
    try:
        user = OmegaConf.from_dotlist(args)
        OmegaConf.merge(OmegaConf.structured(BenchArgs), user)  # unknown keys and bad types fail here
    except OmegaConfBaseException as err:
        raise _config_error(err) from None
    mode = user.get("mode", "step")
    if mode not in (*MODES, "all"):
        raise ConfigError(f"mode={mode!r} is unknown; choose one of {', '.join(MODES)}, all")
    modes = ALL_ORDER if mode == "all" else (mode,)
    unused = sorted(set(user) - set().union(*(MODE_KEYS[m] for m in modes)))
    if unused:
        users = [m for m in MODES if unused[0] in MODE_KEYS[m]]
        raise ConfigError(f"{unused[0]} does not apply to mode={mode}; it is read by mode={' and mode='.join(users)}")

    configs = {}
    for m in modes:
        try:
            cfg = OmegaConf.merge(OmegaConf.structured(BenchArgs), MODE_DEFAULTS[m], user, {"mode": m})
        except OmegaConfBaseException as err:
            raise _config_error(err) from None
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
    if cfg.mode != "step":
        _check_preset("hardware", cfg.hardware)
        _check_preset("loss", cfg.loss)


def run_cli(args: list[str]) -> dict:
    """Parse key=value arguments, run the chosen mode(s), print their tables, write `out` if given.

    Returns the mode's result, or {mode: result} for mode=all.
    """
    configs = mode_configs(args)
    results = {}
    for mode, cfg in configs.items():
        results[mode] = RUNNERS[mode](cfg)
        print(FORMATS[mode](results[mode]), flush=True)
    if len(results) > 1:
        print(_format_summary(results))
    result = results if len(results) > 1 else results[next(iter(results))]
    out = next(iter(configs.values())).out
    if out:
        Path(out).write_text(json.dumps(result, indent=2) + "\n")
    return result


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    return run_cli(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
