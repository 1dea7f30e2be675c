"""Running the project's commands in subprocesses, as a user would (offline W&B, no hub)."""

from __future__ import annotations

import os
import subprocess
import sys


def child_env(**extra) -> dict:
    return {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **extra}


def run_module(module: str, *args, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=env or child_env(), timeout=timeout)
