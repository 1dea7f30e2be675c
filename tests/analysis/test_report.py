"""The offline HTML report: the dashboard's panels from metrics.jsonl or the W&B offline run."""

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from cli import run_module

from emberformer.analysis.panels import PANELS
from emberformer.analysis.report import build_report, load_history, main, panel_series, smooth

DATA_URI = re.compile(r'src="data:image/(png|gif);base64,([A-Za-z0-9+/=]+)"')


def embedded_images(page: str) -> list[Image.Image]:
    """Every image the page shows, decoded (a broken one raises)."""
    images = []
    for kind, data in DATA_URI.findall(page):
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.load()
        assert image.format.lower() == kind
        images.append(image)
    return images


def assert_self_contained(page: str) -> None:
    assert not re.search(r"https?://", page)
    assert not re.search(r"<script|<link|@import|url\(", page)
    srcs = re.findall(r'src="([^"]+)"', page)
    assert srcs and all(src.startswith("data:image/") for src in srcs)


def test_smoothing_is_wandbs_debiased_exponential_average():
    # weight .5: the average after 1, 0 is .5*1*.5 + .5*0 = .25, debiased by 1 - .5**2 = .75.
    assert smooth([1.0, 0.0], 0.5) == pytest.approx([1.0, 1 / 3])
    assert smooth([3.0, 3.0, 3.0], 0.7) == pytest.approx([3.0, 3.0, 3.0])


def test_panel_series_use_the_epoch_or_step_axis_and_skip_non_finite_values():
    records = [{"step": 1, "train/loss_step": 0.9}, {"step": 2, "train/loss_step": "nan"},
               {"step": 2, "epoch": 1, "val/f1_epoch": 0.2, "val/loss_epoch": 0.5},
               {"step": 4, "epoch": 2, "val/f1_epoch": 0.4, "val/loss_epoch": 0.4}]
    loss, validation = PANELS[0], PANELS[1]
    assert panel_series(loss, records) == {"train/loss_step": ([1.0], [0.9])}
    assert panel_series(validation, records) == {"val/loss_epoch": ([1.0, 2.0], [0.5, 0.4]),
                                                 "val/f1_epoch": ([1.0, 2.0], [0.2, 0.4])}


def write_handmade_run(folder: Path) -> Path:
    """A run folder as train.py leaves it: metrics.jsonl, previews, result.json (no checkpoint)."""
    (folder / "previews").mkdir(parents=True)
    lines = []
    for epoch in (1, 2, 3):
        for step in range(epoch * 3 - 2, epoch * 3 + 1):
            lines.append({"step": step, "train/loss_step": 1 / step, "train/bce_step": 0.5 / step,
                          "train/dice_step": 0.5 / step})
        lines.append({"step": epoch * 3, "epoch": epoch, "val/loss_epoch": 1 / epoch, "val/f1_epoch": 0.2 * epoch,
                      "val/iou_epoch": 0.1 * epoch, "val/prec_epoch": 0.3, "val/rec_epoch": 0.2 * epoch,
                      "early_stop/counter": 0, "early_stop/best_value": 0.2 * epoch,
                      "train/lr_temporal": 1e-3, "train/lr_spatial": 1e-4})
        for i in range(2):
            Image.fromarray(np.full((8, 20, 3), 40 * epoch + i, np.uint8)).save(
                folder / "previews" / f"epoch_{epoch:03d}_{i}.png")
    (folder / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n{\"step\": 10, \"trunc")
    (folder / "result.json").write_text(json.dumps({"status": "completed", "best_value": 0.6, "best_epoch": 3,
                                                    "final_val": {"f1": 0.6}}))
    return folder


def test_report_embeds_the_five_curves_and_the_latest_previews(tmp_path):
    run_dir = write_handmade_run(tmp_path / "run")
    path = build_report(run_dir)
    assert path == run_dir / "report.html"
    page = path.read_text()
    assert_self_contained(page)
    images = embedded_images(page)
    assert len(images) == 5 + 2  # five line panels, two previews
    assert [img.size for img in images[5:]] == [(20, 8), (20, 8)]
    assert images[5].getpixel((0, 0)) == (120, 120, 120)  # epoch 3, the latest
    for spec in PANELS[:5]:
        assert f'alt="{spec.title.replace("&", "&amp;")}"' in page
    assert "epoch_003_0.png" in page and "epoch_001_0.png" not in page
    assert "<td>final_val.f1</td><td>0.6000</td>" in page
    assert "12 records from metrics.jsonl; 3 epochs" in page  # the truncated last line is skipped


def test_a_folder_without_metrics_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {tmp_path} has no metrics") and len(err.splitlines()) == 1
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing")])
    assert "does not exist" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# A real training run
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_report_of_a_real_run_opens_offline_with_its_evaluations(tiny_run, tmp_path):
    from emberformer.analysis.predict import predict
    from emberformer.analysis.scoring import evaluate

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("eval_*", "forecast_*", "report.html"))
    evaluate(run / "checkpoints" / "best.pt", split="test", device="cpu")
    predict(run / "checkpoints" / "best.pt", 1, steps=2, k=1, device="cpu")
    out = tmp_path / "report.html"
    proc = run_module("emberformer.report", str(run), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = out.read_text()
    assert_self_contained(page)
    images = embedded_images(page)
    # 5 curves, 2 previews, the evaluation's PR curve and per-T chart, the forecast GIF.
    assert len(images) == 5 + 2 + 2 + 1 and images[-1].n_frames == 2
    assert "records from metrics.jsonl; 2 epochs" in page
    assert "resolved, from checkpoints/last.pt" in page and "segformer_config" in page
    assert "<td>status</td><td>completed</td>" in page
    assert "<h3>eval_test: test split" in page and "<td>Persistence</td><td>newly burned</td>" in page
    assert "<h4>Rollouts by lead time" in page
    assert "<h3>forecast_seq001_k1_threshold: sequence 1" in page


# .ci/run installs Debian's chromium-headless-shell; a desktop Chromium works as well.
CHROMIUM = next((path for name in ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)
# Flags for a browser that must not reach any network: a dead proxy catches any request.
OFFLINE_BROWSER = ["--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9",
                   "--proxy-bypass-list=<-loopback>"]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium installed (.ci/run installs one)")
def test_report_renders_offline_in_headless_chromium(tiny_run, tmp_path):
    page = build_report(tiny_run, tmp_path / "report.html").read_text()
    # Once loaded, the page's title says how many of its images the browser decoded.
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", "<script>addEventListener('load', () => { document.title = "
                                  "[...document.images].filter(i => i.naturalWidth > 0).length + ' of ' + "
                                  "document.images.length; });</script></body>"))
    dom = subprocess.run([CHROMIUM, *OFFLINE_BROWSER, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    shown = len(embedded_images(page))  # 5 panels, 2 previews, and any evaluations other tests added
    assert shown >= 7 and f"<title>{shown} of {shown}</title>" in dom, dom[:300]

    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *OFFLINE_BROWSER, f"--screenshot={shot}", "--window-size=1200,2400",
                    (tmp_path / "report.html").as_uri()], capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape == (2400, 1200, 3)
    drawn = (pixels < 245).any(axis=2).mean()
    assert drawn > 0.05, f"only {drawn:.1%} of the screenshot is not blank"


@pytest.mark.slow
def test_without_metrics_jsonl_the_wandb_offline_run_is_read(tiny_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy, ignore=shutil.ignore_patterns("metrics.jsonl", "previews", "eval_*", "forecast_*"))
    records, source = load_history(copy)
    assert source.startswith("W&B run records (offline-run-")
    expected = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert panel_series(PANELS[1], records) == panel_series(PANELS[1], expected)
    assert panel_series(PANELS[0], records) == panel_series(PANELS[0], expected)
    page = build_report(copy).read_text()
    assert_self_contained(page)
    assert "(W&amp;B media)" in page and len(embedded_images(page)) == 5 + 2  # previews from the W&B run
