"""Device, precision and loader settings from a hardware preset (the `hardware=` config group)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from emberformer.errors import ConfigError, is_number, is_whole, require

_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# The CPU instruction sets that compute bf16 natively (torch.cpu.get_capabilities's names).
NATIVE_BF16 = ("amx_bf16", "avx512_bf16")


def native_bf16_cpu() -> tuple[str, ...]:
    """Which of NATIVE_BF16 this CPU has (empty: bf16 would be emulated, slower than fp32)."""
    capabilities = torch.cpu.get_capabilities()
    return tuple(flag for flag in NATIVE_BF16 if capabilities.get(flag))


@dataclass
class Hardware:
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 16
    num_workers: int = 2
    pin_memory: bool | str = "auto"
    persistent_workers: bool = True
    num_threads: int | None = None
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self):
        require(is_whole(self.batch_size, 1),
                f"hardware.batch_size={self.batch_size} must be a whole number >= 1 (e.g. hardware.batch_size=8)")
        require(is_number(self.num_workers) and self.num_workers >= 0,
                f"hardware.num_workers={self.num_workers} must be >= 0")
        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"hardware.device={self.device} but no CUDA GPU is visible; "
                              "use hardware=cpu or hardware=auto")
        if self.precision not in ("auto", "fp32", *_AMP_DTYPES):
            raise ConfigError(f"hardware.precision={self.precision} must be one of auto, fp32, bf16, fp16")
        self.precision_reason = self._choose_precision()
        if self.pin_memory == "auto":
            self.pin_memory = self.is_cuda
        if self.num_threads:
            torch.set_num_threads(int(self.num_threads))

    def _choose_precision(self) -> str:
        """Resolve precision=auto (bf16 where the device computes it natively) and say why, for the banner."""
        if self.is_cuda:
            if self.precision == "auto":
                self.precision = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
                return "auto: " + ("the GPU computes bf16" if self.precision == "bf16" else "no bf16 on this GPU")
            return f"hardware.precision={self.precision}"
        native = native_bf16_cpu()
        if self.precision == "auto":
            self.precision = "bf16" if native else "fp32"
            return (f"auto: this CPU computes bf16 natively ({', '.join(native)})" if native
                    else "auto: no native bf16 on this CPU (no AMX or AVX512-BF16)")
        if self.precision == "bf16" and not native:
            return "hardware.precision=bf16; this CPU has no native bf16: emulated, likely slower than fp32"
        return f"hardware.precision={self.precision}"

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def set_rank_device(self, local_rank: int) -> None:
        """Under torchrun each rank drives its own GPU."""
        if self.is_cuda:
            self.device = f"cuda:{local_rank}"
            torch.cuda.set_device(self.device)

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(self.device).type, dtype=_AMP_DTYPES[self.precision])

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model as this preset trains it: weights in channels_last (in place) if asked, and
        the torch.compile'd module to call if asked (its parameters are the model's own)."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return torch.compile(model) if self.compile else model

    def grad_scaler(self) -> torch.amp.GradScaler:
        # Only fp16 needs loss scaling; a disabled scaler is a pass-through that keeps the loop uniform.
        return torch.amp.GradScaler(torch.device(self.device).type, enabled=self.precision == "fp16")

    def loader_kwargs(self) -> dict:
        workers = int(self.num_workers)
        return dict(batch_size=int(self.batch_size), num_workers=workers, pin_memory=bool(self.pin_memory),
                    persistent_workers=bool(self.persistent_workers) and workers > 0)

    def describe(self) -> str:
        return f"{self.device}, {self.precision} ({self.precision_reason})" + (", compiled" if self.compile else "")
