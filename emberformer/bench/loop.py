"""python -m emberformer.bench mode=loop hardware=cpu steps=200 [model.name=PRESET] [model.key=value ...]

mode=loop: `steps` steps of real training (emberformer.training.loop.EpochRunner with the
model, the `loss=` preset, conf/optimizer, grad clipping and the preset's precision) fed by the
real DataLoader; reports ms/step, samples/s and the share of step time spent waiting for data.
"""

from __future__ import annotations

import math
import statistics
import time

import torch

from emberformer import config as config_lib
from emberformer.bench.common import build_preset, model_fields, peak_memory, reset_peak_memory
from emberformer.bench.data import BatchClock, build_hardware, compose_train_config, data_summary, train_loader

# The model when model.name is not given: on a CPU the tiny one (200 steps of batch 16 take about
# a minute on a 2-core machine), on a GPU the full one.
CPU_MODEL, CUDA_MODEL = "emberformer_tiny", "emberformer"


def run_loop(cfg) -> dict:
    """Train `cfg.warmup + cfg.steps` steps and time each, the wait for its batch apart."""
    from emberformer.training.distributed import DistEnv
    from emberformer.training.loop import EpochRunner
    from emberformer.training.wandb_logger import WandbLogger

    composed = compose_train_config(cfg)
    hardware = build_hardware(composed.hardware, cfg, loader_only=False)
    torch.manual_seed(cfg.seed)
    loss_fn = config_lib.build(composed.loss)
    data = config_lib.build(composed.data).setup()
    model, model_args = build_preset(cfg, data.inputs, default=CUDA_MODEL if hardware.is_cuda else CPU_MODEL)
    model.to(hardware.device)
    optimizer, _ = config_lib.build(composed.optimizer)(model, epochs=1)
    if loss_fn.needs_positive_fraction():
        loss_fn.set_positive_fraction(data.positive_fraction("train"))
    loader, kwargs = train_loader(data, cfg, hardware)
    trained = hardware.prepare(model)  # as training does: memory format and compilation are timed too

    total = cfg.warmup + cfg.steps
    # A logger that was never started records nothing: the loop's logging code runs, no files.
    runner = EpochRunner(trained, loss_fn, optimizer, hardware.grad_scaler(), hardware,
                         WandbLogger(mode="disabled"), DistEnv(), data.to_device(hardware.device),
                         epochs=math.ceil(total / len(loader)),  # for the progress bar's "Epoch i/N"
                         pred_thresh=composed.metrics.pred_thresh, grad_clip=composed.train.grad_clip,
                         nan_policy=composed.train.nan_policy, log_metrics_every=composed.metrics.log_metrics_every)
    device = torch.device(hardware.device)
    reset_peak_memory(device)
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
        **model_fields(model, model_args, device),
        "hardware": {"preset": cfg.hardware, "device": hardware.device, "precision": hardware.precision,
                     **kwargs, "channels_last": bool(hardware.channels_last), "compile": bool(hardware.compile)},
        "data": data_summary(data, loader),
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
        **peak_memory(device),
    }
