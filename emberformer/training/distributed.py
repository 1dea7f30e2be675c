"""torch.distributed set-up for `torchrun --nproc_per_node=N -m emberformer.train ...`."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist


@dataclass
class DistEnv:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str) -> "DistEnv":
        """Join the process group that torchrun describes in the environment (no-op when run directly)."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        env = cls(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world_size)
        if env.enabled and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
        return env

    def shared_run_dir(self, own_dir: Path) -> Path:
        """Every rank writes into rank 0's Hydra output dir; the dirs other ranks' Hydra made are removed."""
        if not self.enabled:
            return own_dir
        chosen = [str(own_dir)]
        dist.broadcast_object_list(chosen, src=0)
        shared = Path(chosen[0])
        if not self.is_main and own_dir.resolve() != shared.resolve():
            shutil.rmtree(own_dir, ignore_errors=True)
        return shared

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def weight_checksums(self, model: torch.nn.Module) -> list[float]:
        """Each rank's parameter checksum: DDP keeps replicas identical, and the run records the proof."""
        local = float(sum(p.detach().double().sum().item() for p in model.parameters()))
        if not self.enabled:
            return [local]
        gathered: list = [None] * self.world_size
        dist.all_gather_object(gathered, local)
        return gathered

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def trainable_names(module: torch.nn.Module) -> frozenset[str]:
    """Names of the parameters that currently require grad (what DDP registers when built)."""
    return frozenset(name for name, param in module.named_parameters() if param.requires_grad)
