"""python -m emberformer.bench [mode=step] model.name=emberformer batch=4 size=416 patch=16 T=6 threads=2 steps=5

mode=step: forward + backward + AdamW on a synthetic batch of growing fires, timed per step and
split into the temporal stage, the rest of the model and loss + optimizer (`StageClock`).
"""

from __future__ import annotations

import math
import statistics
import time

import torch
import torch.nn.functional as F

from emberformer.bench.common import build_preset, model_fields, peak_memory, reset_peak_memory
from emberformer.contract import InputSpec, predict_logits
from emberformer.errors import ConfigError
from emberformer.models import LearningRates


def synthetic_batch(batch: int, steps: int, height: int, width: int, inputs: InputSpec, burn: float,
                    generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Discs growing from random ignitions to cover `burn` of the image at the last step (contract.Batch)."""
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
        "dynamic": torch.rand(batch, steps, inputs.dynamic_channels, height, width, generator=generator),
        "static": torch.rand(batch, inputs.static_channels, height, width, generator=generator),
        "wind": torch.randn(batch, steps, inputs.wind_features, generator=generator),
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


def parse_size(size: str) -> tuple[int, int]:
    """`size=416` -> (416, 416); `size=400x600` -> (400, 600)."""
    parts = size.lower().split("x") if "x" in size.lower() else [size, size]
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(f"size={size!r} must be an integer or HxW, e.g. 416 or 400x600")
    return int(parts[0]), int(parts[1])


def run_step(cfg) -> dict:
    """Time `cfg.steps` train steps (after `cfg.warmup`) of the model on one synthetic batch."""
    # Not the loop itself: importing emberformer.training.loop would raise the peak RSS measured here.
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
    height, width = parse_size(cfg.size)
    torch.manual_seed(cfg.seed)

    inputs = InputSpec(static_names=tuple(f"static_{i}" for i in range(cfg.channels)),
                       wind_names=tuple(f"wind_{i}" for i in range(cfg.wind_features)))
    model, model_args = build_preset(cfg, inputs)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.param_groups(LearningRates.same(cfg.lr), 0.01))
    scaler = hardware.grad_scaler()
    trained = hardware.prepare(model)

    generator = torch.Generator().manual_seed(cfg.seed)
    batch = synthetic_batch(cfg.batch, cfg.T, height, width, inputs, cfg.burn, generator)
    batch = {k: v.to(device) for k, v in batch.items()}

    reset_peak_memory(device)
    clock = StageClock(model, sync, split=not cfg.compile)
    times, cpu_times, splits = [], [], []
    for step in range(cfg.warmup + cfg.steps):
        clock.marks.clear()
        cpu_start = time.process_time()
        clock.mark("start")
        with hardware.autocast():
            logits = predict_logits(trained, batch)
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
        **model_fields(model, model_args, device),
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
        **peak_memory(device),
    }
