"""The predict command: step scores, pictures, files, and its errors."""

import json

import numpy as np
import pytest
from cli import run_module
from fires import growing_fire
from PIL import Image

from emberformer.analysis.predict import forecast_image, hillshade, step_scores
from emberformer.analysis.rollouts import rollout_chains
from emberformer.data.organized_spreads.layout import EMBEDDED_ROOT
from emberformer.models import Persistence


def test_step_scores_of_persistence_match_its_own_f1_and_never_find_growth():
    seq = growing_fire()
    result, = rollout_chains(Persistence(), seq, [2], steps=4, max_history=2, pred_thresh=0.5)
    scores = step_scores(result, 0.5)
    assert [s["step"] for s in scores] == [1, 2, 3, 4]
    for s in scores:
        assert s["f1"] == pytest.approx(s["persistence_f1"])
        assert s["prec"] == 1.0 and s["growth_f1"] == 0.0  # it never predicts new fire
    assert scores[0]["f1"] > scores[-1]["f1"]  # the truth runs away from the held frame


def test_forecast_image_paints_hits_misses_and_false_alarms():
    observed = np.zeros((10, 10), np.float32)
    observed[4:6, 4:6] = 1
    truth, forecast = observed.copy(), observed.copy()
    truth[3, 4] = forecast[3, 4] = 1      # hit
    truth[6, 4] = 1                       # missed
    forecast[4, 3] = 1                    # false alarm
    image = forecast_image(hillshade(np.zeros((10, 10))), observed, forecast, truth, "caption", 0.5)
    assert image.dtype == np.uint8 and image.shape[2] == 3
    assert image.shape[1] >= 384  # small crops are scaled up to be seen
    scale = 39  # ceil(384 / 10)
    top = 22    # the caption bar

    def pixel(y, x):
        return tuple(image[top + y * scale + scale // 2, x * scale + scale // 2])

    from emberformer.viz import BURNED, HIT, NEW_FIRE, PREDICTED

    expected = {(4, 4): BURNED, (3, 4): HIT, (6, 4): NEW_FIRE, (4, 3): PREDICTED}
    for (y, x), color in expected.items():
        assert pixel(y, x) == tuple(int(255 * c) for c in color), (y, x)


# --------------------------------------------------------------------------------------------
# The command on a real checkpoint
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_predict_command_writes_frames_gif_and_per_step_scores(tiny_run, tmp_path):
    out = tmp_path / "forecast"
    proc = run_module("emberformer.predict", f"ckpt={tiny_run / 'checkpoints' / 'best.pt'}", "sequence=1",
                      "steps=3", "k=2", f"out_dir={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in out.glob("frame_*.png")) == ["frame_001.png", "frame_002.png", "frame_003.png"]
    with Image.open(out / "forecast.gif") as gif:
        assert gif.n_frames == 3
    report = json.loads((out / "forecast.json").read_text())
    assert (report["sequence"], report["k"], report["steps"], report["mode"]) == (1, 2, 3, "threshold")
    assert [s["frame"] for s in report["scores"]] == [2, 3, 4]
    assert all(0 <= s["f1"] <= 1 for s in report["scores"])
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + 3  # header + one row per step

    # Each step's probabilities as a GeoTIFF on the sequence's own grid: the landscape's, shifted to its window.
    import rasterio

    tifs = sorted(out.glob("probability_*.tif"))
    assert [p.name for p in tifs] == ["probability_001.tif", "probability_002.tif", "probability_003.tif"]
    window = json.loads((EMBEDDED_ROOT / "landscape" / "indices.json").read_text())["1"]
    with rasterio.open(EMBEDDED_ROOT / "landscape" / "Input_Geotiff.tif") as land, rasterio.open(tifs[0]) as step:
        assert step.transform == land.transform @ rasterio.Affine.translation(window[2], window[0])
        assert (step.height, step.width) == (window[1] - window[0], window[3] - window[2])
        probs = step.read(1)
    assert probs.dtype == np.float32 and 0 <= probs.min() and probs.max() <= 1


@pytest.mark.slow
def test_probability_mode_and_default_folder(tiny_run):
    from emberformer.analysis.predict import predict

    report, out = predict(tiny_run / "checkpoints" / "best.pt", 1, steps=2, k=1, mode="prob", device="cpu")
    assert out == tiny_run / "forecast_seq001_k1_prob"
    assert report["mode"] == "prob" and len(report["scores"]) == 2
    assert len(list(out.glob("frame_*.png"))) == 2


@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_2(tiny_run):
    from emberformer.analysis.predict import predict
    from emberformer.errors import DataError

    ckpt = tiny_run / "checkpoints" / "best.pt"
    proc = run_module("emberformer.predict", f"ckpt={ckpt}", "sequence=1", "k=0")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: k=0 must be a whole number >= 1"
    with pytest.raises(DataError, match="no sequence 999"):
        predict(ckpt, 999, device="cpu")
    # The message names the data (not the cache folder) and every id it holds (debug=fast: the first 8).
    proc = run_module("emberformer.predict", f"ckpt={ckpt}", "sequence=999")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"error: {EMBEDDED_ROOT}: no sequence 999 in this dataset; "
                                   "its sequence ids are 1-8")
    with pytest.raises(DataError, match=r"steps have a recorded truth; use steps<=\d+"):
        predict(ckpt, 1, steps=500, device="cpu")
