"""WildfireSpreadTS end to end: every model of `model=` trains on it, compare and predict read the runs,
and the test AP is WSTS's own (torchmetrics' exact AP over every test-year pixel, one image at a time)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import torch
from cli import run_module
from torchmetrics.classification import BinaryAveragePrecision

from emberformer.analysis.scoring import evaluate_trained
from emberformer.analysis.trained import load_trained
from emberformer.contract import predict_logits
from emberformer.training.hardware import Hardware

MODELS = ("emberformer_tiny", "persistence", "logistic", "resnet18_unet", "resnet18_unet_1day", "convlstm", "utae",
          "emberformer_unet", "emberformer")
TINY = ["model.d_model=16", "model.nhead=2", "model.num_layers=1"]  # for the guide-sized EmberFormers
COMMON = ["data=wildfirespreadts", "data.crop=48", "debug=fast", "hardware=cpu", "hardware.num_threads=1",
          "logger.mode=disabled", "metrics.num_previews=1"]


@pytest.fixture(scope="module")
def sweep(wsts_root, tmp_path_factory):
    """One job per model on the fixture's GeoTIFFs (fold 0), all in one --multirun process."""
    folder = tmp_path_factory.mktemp("wsts_sweep")
    env_cache = folder / "cache"
    runs = []
    for models, extra in ((MODELS[:-2], []), (MODELS[-2:], TINY)):
        out = folder / models[0]
        proc = run_module("emberformer.train", "--multirun", *COMMON, f"data.root={wsts_root.geotiff}",
                          f"data.cache_dir={env_cache}", f"model={','.join(models)}", *extra,
                          f"hydra.sweep.dir={out}", timeout=1200)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        runs.append(proc)
    return folder


@pytest.mark.slow
def test_every_model_trains_on_wildfirespreadts(sweep):
    results = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/*/result.json"))]
    assert len(results) == len(MODELS)
    assert all(r["status"] == "completed" for r in results), [r.get("error") for r in results]
    assert all(0 <= r["final_val"]["f1"] <= 1 for r in results)


@pytest.mark.slow
def test_compare_names_the_benchmark_and_rolls_forward_without_a_monotonic_mask(sweep):
    proc = run_module("emberformer.compare", str(sweep), timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    comparison = json.loads((sweep / "comparison.json").read_text())
    rows = comparison["rows"]
    assert {r["benchmark"] for r in rows} == {"WildfireSpreadTS"}
    assert {"U-TAE", "ConvLSTM", "Persistence"} <= {r["label"] for r in rows}
    metrics = json.loads(next(sweep.glob("emberformer_tiny/0/eval_test/metrics.json")).read_text())
    assert metrics["rollouts"]["feedback"] == "mask at the val-best threshold"  # active fire may shrink


@pytest.mark.slow
def test_predict_writes_probabilities_on_the_fires_own_grid(sweep, wsts_root):
    ckpt = sweep / "emberformer_tiny" / "0" / "checkpoints" / "best.pt"
    trained = load_trained(ckpt)
    fire_id = trained.data.splits["test"][0]
    out = sweep / "forecast"
    proc = run_module("emberformer.predict", f"ckpt={ckpt}", f"sequence={fire_id}", "k=5", "steps=1",
                      f"out_dir={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    first_day = sorted(wsts_root.geotiff.glob(f"*/fire_{fire_id}/*.tif"))[0]
    with rasterio.open(first_day) as day, rasterio.open(out / "probability_001.tif") as step:
        assert (step.crs, step.transform, step.shape) == (day.crs, day.transform, day.shape)
        assert 0 <= step.read(1).min() and step.read(1).max() <= 1


@pytest.mark.slow
@pytest.mark.parametrize("job", ["emberformer_tiny/0", "emberformer_tiny/1"])  # EmberFormer and persistence
def test_test_ap_is_wildfirespreadts_own(sweep, job):
    """WSTS's test step: batch 1, the model's logits and the target of each whole test image (cut to x32
    about its centre), into torchmetrics' exact BinaryAveragePrecision, which applies the sigmoid
    itself; one AP over every pixel of the test year."""
    trained = load_trained(sweep / job / "checkpoints" / "best.pt")
    hardware = Hardware(device="cpu", precision="fp32")
    ours, _ = evaluate_trained(trained, hardware, "test", rollout_steps=0)
    name = next(iter(ours["models"]))
    wsts_ap = BinaryAveragePrecision(thresholds=None)
    data = trained.data
    to_device = data.to_device("cpu")
    with torch.no_grad():
        for i in range(len(data.dataset("test"))):
            batch = to_device(data.collate([data.dataset("test")[i]]))
            logits = predict_logits(trained.model, batch)
            wsts_ap.update(logits.flatten(), batch["target"].long().flatten())
    assert abs(ours["models"][name]["all"]["ap"] - wsts_ap.compute().item()) < 1e-3
    assert ours["samples"] == len(data.dataset("test")) and np.isfinite(ours["models"][name]["all"]["ap"])


@pytest.mark.slow
def test_the_hdf5_conversion_trains_too(wsts_root, tmp_path):
    proc = run_module("emberformer.train", *COMMON, f"data.root={wsts_root.hdf5}", f"data.cache_dir={tmp_path}",
                      "model=logistic", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "WildfireSpreadTS" in proc.stdout and "(hdf5), fold 0" in proc.stdout
    assert json.loads((tmp_path / "run" / "result.json").read_text())["status"] == "completed"
