"""python -m emberformer.bench mode=data hardware=rtx3090_bs16 workers=4 [data.root=.../organized_spreads]

mode=data: train batches from the cache through the DataLoader, with a conf/hardware preset's
loader settings, across epoch boundaries (`BatchClock`), then the one-process cache vs PNG
comparison of emberformer.bench.io. The loader helpers here feed mode=loop too.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from emberformer import config as config_lib
from emberformer.bench.common import cpu_name
from emberformer.errors import ConfigError, DataError


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
    composed = config_lib.compose([f"hardware={cfg.hardware}", f"loss={cfg.loss}"])
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
    """The train split's DataLoader with the hardware's loader settings; returns (loader, those settings)."""
    kwargs = loader_kwargs(hardware)
    loader = data.loader("train", seed=cfg.seed, **kwargs)
    if len(loader) == 0:
        raise DataError(f"{data.root_path}: the train split has no samples to time; give data.root a folder "
                        "with more sequences or lower data.val_fraction / data.test_fraction")
    return loader, kwargs


def data_summary(data, loader) -> dict:
    return {"root": str(data.root_path), "train_samples": len(loader.dataset), "max_history": data.max_history}


def run_data(cfg) -> dict:
    """Time `cfg.steps` DataLoader batches (after `cfg.warmup`) and, unless io_samples=0, the cache vs PNGs."""
    from emberformer.bench.io import measure_io

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
        "data": data_summary(data, loader),
        "hardware": {"preset": cfg.hardware, **kwargs},
        "device": cpu_name(),
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
