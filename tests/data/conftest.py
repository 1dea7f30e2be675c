"""Data tests: keep every cache under the test's tmp folder, never in ~/.cache."""

import numpy as np
import pytest
from PIL import Image

from emberformer.data.organized_spreads.layout import FIRE_GREEN


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("EMBERFORMER_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("WANDB_MODE", "offline")
    return root


@pytest.fixture
def decode_png():
    """A PNG decode independent of the reader under test: plain RGB, green channel == 231."""

    def decode(path) -> np.ndarray:
        with Image.open(path) as im:
            return (np.asarray(im.convert("RGB"))[..., 1] == FIRE_GREEN).astype(np.uint8)

    return decode
