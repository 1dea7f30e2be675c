"""Small synthetic fire sequences for tests that need exact, hand-checkable geometry."""

from __future__ import annotations

import numpy as np


def growing_fire(n: int = 8, size: int = 24) -> dict:
    """A disc that grows by one pixel of radius per frame, as FireSpreadData.sequence returns it."""
    yy, xx = np.mgrid[0:size, 0:size]
    radius = np.hypot(yy - size / 2, xx - size / 2)
    fire = np.stack([(radius < 2 + t) for t in range(n)]).astype(np.uint8)
    rng = np.random.default_rng(0)
    return {"fire_frames": fire, "isochrones": fire.copy(), "dynamic": np.zeros((n, 0, size, size), np.float32),
            "held": np.zeros(0, bool), "origins": list(range(n - 1)), "run_end": [n - 1] * n,
            "static": rng.random((3, size, size), dtype=np.float32),
            "wind": rng.normal(size=(n, 3)).astype(np.float32), "window": (0, size, 0, size)}
