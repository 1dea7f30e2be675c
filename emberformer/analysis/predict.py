"""Forecast a fire several steps ahead by feeding the model its own output:
`python -m emberformer.predict ckpt=.../checkpoints/best.pt sequence=17 steps=6 [k=3] [mode=threshold|prob]`.

From the sequence's first k observed frames, each step predicts the next burned area, appends it
to the history (thresholded, or as probabilities) and goes on; the wind at every step is the
sequence's recorded weather, so this is a forecast given the weather. Each step is scored against
the recorded truth. Writes `frame_NNN.png` per step, `forecast.gif` and `forecast.json`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from emberformer import config as config_lib
from emberformer.analysis.rollouts import Rollout, rollout_chains
from emberformer.analysis.tables import markdown_table, score_table_rows
from emberformer.analysis.trained import default_out_dir, load_trained
from emberformer.contract import burning
from emberformer.errors import ConfigError, DataError, exit_on_user_error
from emberformer.metrics import IGNORE_INDEX, fire_metrics, growth_labels
from emberformer.training.hardware import Hardware
from emberformer.viz import BURNED, OUTCOMES, new_fire_outcomes, overlay

MODES = ("threshold", "prob")
LEGEND = (("burned at start", BURNED), *OUTCOMES)


def step_scores(result: Rollout, pred_thresh: float) -> list[dict]:
    """Per step: the forecast's F1/IoU/precision/recall against the truth, the same restricted to
    pixels not burning at the start (growth), and persistence's F1 (the start frame held)."""
    metrics = fire_metrics(pred_thresh)
    observed = torch.from_numpy(result.observed)[None, None]
    scores = []

    def score(pred, labels) -> dict:
        metrics.reset()
        metrics.update(pred, labels)
        return {k: round(float(v), 6) for k, v in metrics.compute().items()}

    for i, frame in enumerate(result.frames):
        labels = torch.from_numpy(result.truth[i]).long()[None, None]
        forecast = torch.from_numpy(result.forecast[i])[None, None]
        own = score(forecast, labels)
        growth = growth_labels(labels, observed)
        entry = {"step": i + 1, "frame": frame, **own,
                 "growth_f1": score(forecast, growth)["f1"] if (growth != IGNORE_INDEX).any() else None,
                 "persistence_f1": score(observed, labels)["f1"],
                 "burned_true": int(result.truth[i].sum()),
                 "burned_forecast": int((result.forecast[i] > pred_thresh).sum())}
        scores.append(entry)
    return scores


# --------------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------------
def hillshade(elevation: np.ndarray) -> np.ndarray:
    """Grey relief in [0.45, 0.95] lit from the north-west, so the fire sits on visible terrain."""
    dy, dx = np.gradient(elevation.astype(np.float32) * max(elevation.shape) / 4)
    light = np.array([-1.0, -1.0, 1.0]) / math.sqrt(3)  # from the NW, 35 degrees up
    normal = np.stack([-dx, -dy, np.ones_like(dx)])
    shade = np.tensordot(light, normal, axes=1) / np.linalg.norm(normal, axis=0)
    return np.repeat((0.45 + 0.5 * np.clip(shade, 0, 1))[..., None], 3, axis=2)


def forecast_image(background: np.ndarray, observed: np.ndarray, forecast: np.ndarray, truth: np.ndarray,
                   caption: str, pred_thresh: float) -> np.ndarray:
    """The forecast over the truth on the landscape, a caption above and a legend below (uint8 RGB)."""
    from PIL import Image, ImageDraw, ImageFont

    rgb = overlay(background, burning(observed), BURNED)
    outcomes = new_fire_outcomes(observed, truth, forecast > pred_thresh)
    for name, color in OUTCOMES:
        rgb = overlay(rgb, outcomes[name], color)
    scale = max(1, math.ceil(384 / max(observed.shape)))
    picture = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    font = ImageFont.load_default(size=13)
    bar = 22
    canvas = Image.new("RGB", (max(picture.width, 400), picture.height + 2 * bar), "white")
    canvas.paste(picture, (0, bar))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 4), caption, fill="black", font=font)
    x, y = 4, picture.height + bar + 5
    for label, color in LEGEND:
        draw.rectangle((x, y, x + 12, y + 12), fill=tuple(int(255 * c) for c in color))
        draw.text((x + 16, y - 1), label, fill="black", font=font)
        x += 22 + int(draw.textlength(label, font=font))
    return np.asarray(canvas)


def write_probabilities(out: Path, probs: np.ndarray, georeference: tuple[str, tuple[float, ...]]) -> list[Path]:
    """Each step's probability map [steps, H, W] as a float32 GeoTIFF on the sequence's own grid (its CRS,
    when the data has one, and its transform), so QGIS and rasterio place it on the map as it is."""
    import rasterio
    from affine import Affine

    crs, transform = georeference
    paths = []
    for i, prob in enumerate(probs, start=1):
        path = out / f"probability_{i:03d}.tif"
        with rasterio.open(path, "w", driver="GTiff", height=prob.shape[0], width=prob.shape[1], count=1,
                           dtype="float32", crs=crs or None, transform=Affine(*transform), compress="deflate") as dst:
            dst.write(prob.astype(np.float32), 1)
            dst.set_band_description(1, f"probability of fire, step {i}")
        paths.append(path)
    return paths


def write_forecast(out: Path, images: list[np.ndarray], report: dict, fps: float) -> None:
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    for old in (*out.glob("frame_*.png"), *out.glob("probability_*.tif")):  # a rerun with fewer steps
        old.unlink()
    pictures = [Image.fromarray(image) for image in images]
    for i, picture in enumerate(pictures, start=1):
        picture.save(out / f"frame_{i:03d}.png")
    pictures[0].save(out / "forecast.gif", save_all=True, append_images=pictures[1:],
                     duration=int(1000 / fps), loop=0)
    (out / "forecast.json").write_text(json.dumps(report, indent=1) + "\n")


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------
def _whole(value, key: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key}={value} must be a whole number >= {minimum}")
    return value


def predict(ckpt, sequence, steps: int = 6, k: int = 3, mode: str = "threshold", monotonic: bool | None = None,
            pred_thresh: float | None = None, out_dir=None, fps: float = 2, device: str = "auto",
            precision: str = "auto", data_root: str | None = None) -> tuple[dict, Path]:
    """Roll a checkpoint forward on one sequence, write frames, GIF and scores. Returns (report, out dir)."""
    if sequence is None:
        raise ConfigError("sequence is required: pass sequence=<id> (the NNN of fire_frames/sequence_NNN)")
    seq_id = _whole(sequence, "sequence", 1)
    k, steps = _whole(k, "k", 1), _whole(steps, "steps", 1)
    if mode not in MODES:
        raise ConfigError(f"mode={mode} must be one of {', '.join(MODES)}")
    if pred_thresh is not None and not 0 < float(pred_thresh) < 1:
        raise ConfigError(f"pred_thresh={pred_thresh} must lie strictly between 0 and 1 (e.g. 0.5), or null")
    if not float(fps) > 0:
        raise ConfigError(f"fps={fps} must be > 0")
    hardware = Hardware(device=device, precision=precision)
    trained = load_trained(ckpt, hardware.device, data_root)
    pred_thresh = trained.pred_thresh if pred_thresh is None else float(pred_thresh)
    data = trained.data
    seq = data.sequence(seq_id)
    n = len(seq["fire_frames"])
    if k > n - 1:
        raise DataError(f"sequence {seq_id} has {n} frames: k={k} leaves none to forecast; use k<={n - 1}")
    ahead = seq["run_end"][k - 1] - (k - 1)  # to its last frame, or to the day before a missing one
    if steps > ahead:
        gap = "" if ahead == n - k else " before a missing day"
        raise DataError(f"sequence {seq_id} has {n} frames: from k={k} only {ahead} steps have a recorded "
                        f"truth{gap}; use steps<={ahead}")
    split = next((name for name, ids in data.splits.items() if seq_id in ids), None)
    monotonic = data.cumulative if monotonic is None else bool(monotonic)

    result, = rollout_chains(trained.model, seq, [k - 1], steps, data.max_history, pred_thresh, mode, monotonic,
                             hardware)
    scores = step_scores(result, pred_thresh)
    bands = list(data.inputs.static_names)
    background = hillshade(seq["static"][bands.index("elevation") if "elevation" in bands else 0])
    images = [forecast_image(background, result.observed, result.forecast[i], result.truth[i],
                             f"sequence {seq_id}, step {s['step']}/{steps} (frame {s['frame']}): "
                             f"F1 {s['f1']:.2f}, persistence {s['persistence_f1']:.2f}", pred_thresh)
              for i, s in enumerate(scores)]
    report = {"checkpoint": str(trained.path), "sequence": seq_id, "split": split, "frames_in_sequence": n,
              "k": k, "steps": steps, "mode": mode, "monotonic": monotonic, "pred_thresh": pred_thresh,
              "scores": scores}
    out = Path(out_dir) if out_dir else default_out_dir(trained, f"forecast_seq{seq_id:03d}_k{k}_{mode}")
    write_forecast(out, images, report, float(fps))
    write_probabilities(out, result.probs, data.georeference(seq_id))
    return report, out


@exit_on_user_error
def run(cfg: DictConfig) -> dict:
    report, out = predict(cfg.ckpt, cfg.sequence, steps=cfg.steps, k=cfg.k, mode=cfg.mode, monotonic=cfg.monotonic,
                          pred_thresh=cfg.pred_thresh, out_dir=cfg.out_dir, fps=cfg.fps, device=cfg.device,
                          precision=cfg.precision, data_root=cfg.data_root)
    note = {"train": " split (the model trained on it)", None: ": in no split of this configuration"}.get(
        report["split"], " split")
    print(f"Forecast of sequence {report['sequence']} ({report['split'] or 'unused'}{note}) "
          f"from frames 0..{report['k'] - 1}, "
          f"{report['steps']} steps, mode={report['mode']}, pred_thresh={report['pred_thresh']:g}")
    print(markdown_table(*score_table_rows(report)))
    print(f"growth F1: only pixels not burning at frame {report['k'] - 1}. Wrote {report['steps']} frame_NNN.png, "
          f"probability_NNN.tif (georeferenced), forecast.gif and forecast.json to {out}")
    return report


@hydra.main(version_base="1.3", config_path=str(config_lib.CONFIG_DIR), config_name="predict")
def main(cfg: DictConfig) -> None:
    run(cfg)
