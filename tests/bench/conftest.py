"""Bench tests: offline hub/W&B, a fixed seed, and every cache under the test's tmp folder."""

from __future__ import annotations

import os

# huggingface_hub reads these once, at import: set them before anything imports it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

import pytest
import torch

from emberformer.data.caching import CACHE_ENV


@pytest.fixture(autouse=True)
def _seeded_isolated(tmp_path, monkeypatch):
    torch.manual_seed(0)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
