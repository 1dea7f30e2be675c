"""Small pictures of fire masks: the `val/preview` images and the forecast frames."""

from __future__ import annotations

import numpy as np

from emberformer.contract import burning, newly_burned

_GAP = 4


def _terrain(background: np.ndarray | None, shape) -> np.ndarray:
    """A grey-scale RGB base from a [0,1] band (e.g. elevation), or plain light grey."""
    if background is None:
        return np.full((*shape, 3), 0.85, dtype=np.float32)
    band = np.clip(background.astype(np.float32), 0, 1)
    return np.repeat((0.55 + 0.4 * band)[..., None], 3, axis=2)


def overlay(base: np.ndarray, mask: np.ndarray, color, alpha: float = 1.0) -> np.ndarray:
    """Paint `mask` (bool, or [0,1] weights) in `color` over an RGB float image."""
    weight = alpha * np.clip(mask.astype(np.float32), 0, 1)[..., None]
    return base * (1 - weight) + np.asarray(color, dtype=np.float32) * weight


BURNED = (0.35, 0.1, 0.05)
NEW_FIRE = (1.0, 0.45, 0.0)
PREDICTED = (0.1, 0.35, 0.95)
HIT = (0.55, 0.1, 0.65)  # predicted and true new fire: the blend of PREDICTED and NEW_FIRE reads as "both"
# The new fire's outcomes, as the preview's errors strip and the forecast frames draw them.
OUTCOMES = (("hit", HIT), ("missed", NEW_FIRE), ("false alarm", PREDICTED))
PREVIEW_LEGEND = ("history | target (new fire orange) | prediction (blue) | new fire at the threshold: "
                  "hit (purple), missed (orange), false alarm (blue)")


def fire_window(*masks: np.ndarray, margin: int = 12, min_size: int = 48) -> tuple[slice, slice]:
    """A square-ish window around everything burning or predicted, so a small fire fills the preview."""
    h, w = masks[0].shape
    rows, cols = np.nonzero(np.logical_or.reduce([m > 0.1 for m in masks]))
    if rows.size == 0:
        return slice(0, h), slice(0, w)
    size = max(min_size, int(np.ptp(rows)) + 1 + 2 * margin, int(np.ptp(cols)) + 1 + 2 * margin)
    y0 = int(np.clip((rows.min() + rows.max() + 1 - size) // 2, 0, max(h - size, 0)))
    x0 = int(np.clip((cols.min() + cols.max() + 1 - size) // 2, 0, max(w - size, 0)))
    return slice(y0, min(y0 + size, h)), slice(x0, min(x0 + size, w))


def new_fire_outcomes(last_fire: np.ndarray, target: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """Hit / missed / false alarm masks of the newly burned area (pixels not burning in `last_fire`)."""
    true_new, predicted_new = newly_burned(target, last_fire), predicted & ~burning(last_fire)
    return {"hit": predicted_new & true_new, "missed": true_new & ~predicted_new,
            "false alarm": predicted_new & ~true_new}


def preview_image(last_fire: np.ndarray, target: np.ndarray, prob: np.ndarray,
                  background: np.ndarray | None = None, threshold: float = 0.5,
                  min_pixels: int = 192) -> np.ndarray:
    """History | target | prediction | errors side by side, as one uint8 RGB image.

    Cropped to the fire and enlarged (nearest neighbour, so pixels stay pixels) to at least
    `min_pixels` high. The burned area so far is dark; the target's newly burned pixels are
    orange; the predicted probability is shaded blue; the errors strip shows the new fire at
    `threshold` over the last observed frame: hits purple, misses orange, false alarms blue.
    """
    window = fire_window(last_fire, target, prob)
    last_fire, target, prob = last_fire[window], target[window], prob[window]
    background = background[window] if background is not None else None
    scale = max(1, -(-min_pixels // last_fire.shape[0]))
    last_fire, target, prob = (np.kron(a, np.ones((scale, scale), dtype=a.dtype)) for a in (last_fire, target, prob))
    if background is not None:
        background = np.kron(background, np.ones((scale, scale), dtype=background.dtype))
    base = overlay(_terrain(background, last_fire.shape), burning(last_fire), BURNED)
    history = base
    truth = overlay(base, newly_burned(target, last_fire), NEW_FIRE)
    pred = overlay(base, prob, PREDICTED, alpha=0.8)
    errors = base
    outcomes = new_fire_outcomes(last_fire, target, prob > threshold)
    for name, color in OUTCOMES:
        errors = overlay(errors, outcomes[name], color)
    gap = np.ones((last_fire.shape[0], _GAP, 3), dtype=np.float32)
    image = np.concatenate([history, gap, truth, gap, pred, gap, errors], axis=1)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)
