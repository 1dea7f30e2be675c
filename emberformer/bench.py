"""Time a model's train step (forward + backward + AdamW) on synthetic fires at given shapes.

    python -m emberformer.bench model.d_model=96 batch=4 size=416 patch=16 T=6 threads=2 steps=5 out=bench.json

Arguments are key=value (OmegaConf dotlist). `model.name` picks emberformer (default) or unet;
other `model.*` keys are constructor arguments (e.g. model.spatial.decoder=unet,
model.skip_quiet_patches=true). `size` is an int or HxW; `patch` is short for model.patch_size;
`burn` is the fraction of the image burned at the last observed step (it sets how many patches
are quiet). Prints the median s/step, samples/s, the split temporal / spatial / loss+optimizer
and the peak memory (process peak RSS on CPU, torch.cuda.max_memory_allocated on GPU).
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
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from emberformer.errors import ConfigError, exit_on_user_error
from emberformer.models import EmberFormer, UNetBaseline
from emberformer.models.base import check_positive_int

MODELS = {"emberformer": EmberFormer, "unet": UNetBaseline}


@dataclasses.dataclass
class BenchArgs:
    # model.name picks the model; the other model.* keys are its constructor's arguments.
    model: dict[str, Any] = dataclasses.field(default_factory=lambda: {"name": "emberformer"})
    batch: int = 4
    size: str = "416"  # side, or HxW
    patch: int | None = None  # short for model.patch_size
    T: int = 6
    channels: int = 7
    wind_features: int = 3
    burn: float = 0.1  # fraction of the image burned at the last observed step
    threads: int = 0  # 0 = torch's default
    steps: int = 5
    warmup: int = 1
    lr: float = 1e-3
    device: str = "auto"  # auto | cpu | cuda
    seed: int = 0
    out: str | None = None  # JSON path


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

    def __init__(self, model: torch.nn.Module, sync):
        self.sync = sync
        self.marks: dict[str, float] = {}
        temporal = getattr(model, "temporal", None)
        if temporal is not None:
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

    def split_ms(self) -> dict[str, float]:
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


def run(cfg) -> dict:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device={cfg.device!r} must be auto, cpu or cuda")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but torch sees no CUDA device; use device=cpu")
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          "cpu" if cfg.device == "auto" else cfg.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    height, width = _parse_size(cfg.size)
    torch.manual_seed(cfg.seed)

    model_kwargs = OmegaConf.to_container(cfg.model, resolve=True)
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
    model = MODELS[name](in_static_channels=cfg.channels, wind_features=cfg.wind_features, **model_kwargs)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.param_groups(cfg.lr, cfg.lr, 0.01))

    generator = torch.Generator().manual_seed(cfg.seed)
    batch = synthetic_batch(cfg.batch, cfg.T, height, width, cfg.channels, cfg.wind_features, cfg.burn, generator)
    batch = {k: v.to(device) for k, v in batch.items()}

    clock = StageClock(model, sync)
    times, cpu_times, splits = [], [], []
    for step in range(cfg.warmup + cfg.steps):
        clock.marks.clear()
        cpu_start = time.process_time()
        clock.mark("start")
        logits = model(batch["fire"], batch["static"], batch["wind"], batch["time_mask"])
        clock.mark("forward_end")
        loss = F.binary_cross_entropy_with_logits(logits, batch["target"])
        clock.mark("loss_end")
        loss.backward()
        clock.mark("backward_end")
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        clock.mark("step_end")
        if step >= cfg.warmup:
            times.append(clock.marks["step_end"] - clock.marks["start"])
            cpu_times.append(time.process_time() - cpu_start)
            splits.append(clock.split_ms())

    median = statistics.median(times)
    result = {
        "model": model.describe(),
        "params": sum(p.numel() for p in model.parameters()),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name(),
        "threads": torch.get_num_threads(),
        "shape": {"batch": cfg.batch, "T": cfg.T, "height": height, "width": width, "channels": cfg.channels},
        "burn": cfg.burn,
        "steps": cfg.steps,
        "median_s_per_step": median,
        "samples_per_s": cfg.batch / median,
        # Process CPU time: steadier than wall time on a shared machine (exact work at threads=1).
        "median_cpu_s_per_step": statistics.median(cpu_times),
        "ms": {k: statistics.median(s[k] for s in splits) for k in splits[0]},
        "torch": torch.__version__,
    }
    if device.type == "cuda":
        result["peak_gpu_gb"] = torch.cuda.max_memory_allocated(device) / 1e9
    else:
        result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    return result


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


def _format(result: dict) -> str:
    ms = result["ms"]
    memory = (f"peak GPU memory {result['peak_gpu_gb']:.2f} GB" if "peak_gpu_gb" in result
              else f"peak RSS {result['peak_rss_gb']:.2f} GB")
    shape = result["shape"]
    return (
        f"{result['model']} | {result['params'] / 1e6:.2f}M params | {result['device']}, {result['threads']} threads | "
        f"batch {shape['batch']} x T={shape['T']} x {shape['height']}x{shape['width']}\n"
        f"median {result['median_s_per_step']:.3f} s/step ({result['samples_per_s']:.2f} samples/s, "
        f"{result['median_cpu_s_per_step']:.3f} CPU s/step) | "
        f"temporal {ms['temporal']:.0f} ms, spatial {ms['spatial']:.0f} ms, "
        f"loss+optimizer {ms['loss_optimizer']:.0f} ms | "
        f"{memory}"
    )


def run_cli(args: list[str]) -> dict:
    """Parse key=value arguments, time, print the summary, write `out` if given."""
    bad = [a for a in args if "=" not in a]
    if bad:
        raise ConfigError(f"argument {bad[0]!r} is not key=value; e.g. batch=4 size=416 model.d_model=96")
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(BenchArgs), OmegaConf.from_dotlist(args))
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        raise ConfigError(f"bench argument {key}: {str(err).splitlines()[0]}") from None
    for key in ("batch", "T", "channels", "wind_features", "steps"):
        check_positive_int(cfg[key], key)
    if cfg.warmup < 0 or cfg.threads < 0:
        raise ConfigError(f"warmup={cfg.warmup} and threads={cfg.threads} must be >= 0")
    if not 0.0 < cfg.burn < 1.0:
        raise ConfigError(f"burn={cfg.burn} must be in (0, 1)")
    result = run(cfg)
    print(_format(result))
    if cfg.out:
        Path(cfg.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    return run_cli(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
