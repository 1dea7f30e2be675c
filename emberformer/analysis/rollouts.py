"""Used by the predict, evaluate and compare commands: multi-step forecasts (rollouts), a model
fed its own output, and their scores by lead time.

`rollout_chains` rolls one sequence forward from several origins at once (one batch per step).
`predict` uses it for one origin; `score_rollouts` for every origin of every sequence of a split,
pooling the pixels of all forecasts made `lead` steps ahead (lead 1 is the next-step task):

    python -m emberformer.evaluate ckpt=<run>/checkpoints/best.pt rollout_steps=6
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from emberformer.contract import predict_logits
from emberformer.metrics import IGNORE_INDEX, fire_metrics, growth_labels
from emberformer.training.hardware import Hardware

ROLLOUT_STEPS = 6   # lead times 1..6 unless told otherwise (compare reuses only this)
ROLLOUT_METRICS = ("prec", "rec", "f1")


@dataclass
class Rollout:
    probs: np.ndarray      # [steps, H, W] the model's probability at each step
    forecast: np.ndarray   # [steps, H, W] what was fed back (mask or probabilities)
    truth: np.ndarray      # [steps, H, W] simulated burned area at the same steps
    observed: np.ndarray   # [H, W] the forecast's origin: the last observed frame
    frames: list[int]      # frame index of each step's truth


def _history_batch(histories: list[list[torch.Tensor]], origins: list[int], dynamic: torch.Tensor,
                   held: torch.Tensor, wind: torch.Tensor, static: torch.Tensor, max_history: int) -> dict:
    """The model input (contract.Batch) for each history's last `max_history` fire frames, left-padded in
    time like a collated batch; frame t comes with the recorded dynamic bands and wind of step t (the wind
    that drives it to t + 1), except that after its origin a chain's `held` channels (observations of
    the day, unknown ahead) keep the origin's values."""
    spans = [(max(0, len(h) - max_history), len(h)) for h in histories]
    t_max = max(end - start for start, end in spans)
    fire = static.new_zeros((len(histories), t_max, *histories[0][0].shape))
    rasters = dynamic.new_zeros((len(histories), t_max, *dynamic.shape[1:]))
    winds = wind.new_zeros((len(histories), t_max, wind.shape[-1]))
    time_mask = torch.zeros(len(histories), t_max, dtype=torch.bool, device=static.device)
    for i, (history, origin, (start, end)) in enumerate(zip(histories, origins, spans, strict=True)):
        length = end - start
        fire[i, t_max - length:] = torch.stack(history[start:end])
        known = dynamic[start:end].clone()
        ahead = torch.arange(start, end, device=dynamic.device) > origin
        known[ahead[:, None] & held[None]] = dynamic[origin][None].expand_as(known)[ahead[:, None] & held[None]]
        rasters[i, t_max - length:] = known
        winds[i, t_max - length:] = wind[start:end]
        time_mask[i, t_max - length:] = True
    return {"fire": fire, "dynamic": rasters, "static": static.expand(len(histories), -1, -1, -1), "wind": winds,
            "time_mask": time_mask}


@torch.no_grad()
def rollout_chains(model, sequence: dict, origins: list[int], steps: int, max_history: int, pred_thresh: float,
                   mode: str = "threshold", monotonic: bool = True, hardware: Hardware | None = None,
                   batch_size: int = 16) -> list[Rollout]:
    """Roll `model` forward from each origin t0 of `sequence` (a data module's `sequence(id)`): frames
    0..t0 observed, then up to `steps` predictions, each appended to the history (thresholded at
    `pred_thresh`, or as probabilities) with the sequence's recorded wind and weather: a forecast given
    the weather. With `monotonic` the burned area never shrinks (masks of the area burned so far; not
    for a day's active fire). A chain stops where the sequence's run of steps ends (its last frame, or
    a missing day); `batch_size` chains per forward."""
    hardware = hardware or Hardware(device="cpu", precision="fp32")
    device = hardware.device
    fire = torch.from_numpy(np.asarray(sequence["fire_frames"], dtype=np.float32)).to(device)
    dynamic = torch.from_numpy(np.asarray(sequence["dynamic"], dtype=np.float32)).to(device)
    held = torch.from_numpy(np.asarray(sequence["held"], dtype=bool)).to(device)
    run_end = sequence["run_end"]
    wind = torch.from_numpy(np.asarray(sequence["wind"], dtype=np.float32)).to(device)
    static = torch.from_numpy(np.asarray(sequence["static"], dtype=np.float32))[None].to(device)
    truth = np.asarray(sequence["isochrones"], dtype=np.float32)
    rollouts = []
    for first in range(0, len(origins), batch_size):
        chunk = origins[first:first + batch_size]
        histories = [list(fire[:t0 + 1]) for t0 in chunk]
        horizons = [min(steps, run_end[t0] - t0) for t0 in chunk]
        probs: list[list[torch.Tensor]] = [[] for _ in chunk]
        for step in range(max(horizons)):
            active = [i for i, horizon in enumerate(horizons) if step < horizon]
            batch = _history_batch([histories[i] for i in active], [chunk[i] for i in active], dynamic, held, wind,
                                   static, max_history)
            with hardware.autocast():
                prob = torch.sigmoid(predict_logits(model, batch).float())[:, 0]
            for row, i in enumerate(active):
                nxt = (prob[row] > pred_thresh).float() if mode == "threshold" else prob[row]
                if monotonic:
                    nxt = torch.maximum(nxt, histories[i][-1])
                histories[i].append(nxt)
                probs[i].append(prob[row])
        for t0, horizon, history, prob in zip(chunk, horizons, histories, probs, strict=True):
            frames = list(range(t0 + 1, t0 + 1 + horizon))
            rollouts.append(Rollout(torch.stack(prob).cpu().numpy(), torch.stack(history[t0 + 1:]).cpu().numpy(),
                                    truth[frames], fire[t0].cpu().numpy(), frames))
    return rollouts


def score_rollouts(models: dict, data, split: str, steps: int = ROLLOUT_STEPS, hardware: Hardware | None = None,
                   batch_size: int = 16, per_sequence=None) -> dict:
    """Every model of `models` ({name: (model, threshold)}) rolled forward from every origin of every
    sequence of `split` (its `origins`: each frame but the last, or for WildfireSpreadTS those of the
    test protocol), fed its own thresholded output (monotonic where the data's masks are cumulative);
    per lead time 1..`steps`, precision/recall/F1 over all pixels and over the pixels not burning at
    the origin (newly burned), pooled over the forecasts. Returns {name: [{lead, forecasts, all,
    newly_burned}]}; each sequence's newly burned counts per lead go into `per_sequence` (a
    paired.PerSequence) when given."""
    hardware = hardware or Hardware(device="cpu", precision="fp32")
    per_lead = {name: [{"forecasts": 0, **{view: fire_metrics(threshold, sync_on_compute=False).to(hardware.device)
                                           for view in ("all", "newly_burned")}} for _ in range(steps)]
                for name, (_, threshold) in models.items()}
    for seq_id in data.splits[split]:
        sequence = data.sequence(seq_id)  # decoded once for every model
        for name, (model, threshold) in models.items():
            for result in rollout_chains(model, sequence, sequence["origins"], steps, data.max_history, threshold,
                                         monotonic=data.cumulative, hardware=hardware, batch_size=batch_size):
                origin = torch.from_numpy(result.observed)[None, None].to(hardware.device)
                for lead, (forecast, truth) in enumerate(zip(result.forecast, result.truth, strict=True)):
                    labels = torch.from_numpy(truth).long()[None, None].to(hardware.device)
                    forecast = torch.from_numpy(forecast)[None, None].to(hardware.device)
                    entry = per_lead[name][lead]
                    entry["forecasts"] += 1
                    growth = growth_labels(labels, origin)
                    entry["all"].update(forecast, labels)
                    entry["newly_burned"].update(forecast, growth)
                    if per_sequence is not None:
                        counted = growth != IGNORE_INDEX
                        per_sequence.count(f"{name}/rollout_newly_burned/lead{lead + 1}", seq_id,
                                           forecast[counted] > threshold, growth[counted] == 1)
    return {name: [{"lead": lead + 1, "forecasts": entry["forecasts"],
                    **{view: _computed(entry[view]) for view in ("all", "newly_burned")}}
                   for lead, entry in enumerate(entries) if entry["forecasts"]]
            for name, entries in per_lead.items()}


def _computed(metrics) -> dict:
    values = metrics.compute()
    return {key: round(float(values[key]), 6) for key in ROLLOUT_METRICS}
