"""Evaluation metrics against hand-computed values, and `python -m emberformer.evaluate` on a real checkpoint.

`tiny_run` (tests/conftest.py) trains one real debug=fast run per test session with an even
smaller model; the evaluate, predict and report tests share its folder.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli import run_module
from omegaconf import OmegaConf
from torchmetrics.classification import BinaryAveragePrecision, BinaryCalibrationError

from emberformer import config as config_lib
from emberformer.analysis import paired
from emberformer.contract import newly_burned
from emberformer.metrics import (
    IGNORE_INDEX,
    BinnedAveragePrecision,
    BinnedCalibrationError,
    FireEvaluation,
    best_f1_threshold,
    growth_labels,
    metric_inputs,
)


# --------------------------------------------------------------------------------------------
# Metrics on small hand-made tensors
# --------------------------------------------------------------------------------------------
def test_average_precision_matches_the_hand_computed_value_and_ignores_padding():
    # Sorted by score: 0.9 (fire), 0.8 (no), 0.3 (fire), 0.2 (no). With thresholds 0, .25, .5, .85, 1:
    # (precision, recall) = (1/2, 1), (2/3, 1), (1/2, 1/2), (1, 1/2), then recall 0:
    # AP = sum over recall steps of precision = 1/2 * 2/3 + 1/2 * 1 = 5/6.
    probs = torch.tensor([0.9, 0.8, 0.3, 0.2, 0.95])
    labels = torch.tensor([1, 0, 1, 0, IGNORE_INDEX])  # a confident padded pixel must not count
    ap = BinnedAveragePrecision(thresholds=[0.0, 0.25, 0.5, 0.85, 1.0], ignore_index=IGNORE_INDEX)
    ap.update(probs, labels)
    assert ap.compute().item() == pytest.approx(5 / 6, abs=1e-6)
    precision, recall, _ = ap.curve()
    assert precision[:4].tolist() == pytest.approx([1 / 2, 2 / 3, 1 / 2, 1])
    assert recall[:4].tolist() == pytest.approx([1, 1, 1 / 2, 1 / 2])


def test_one_pass_pr_counts_equal_torchmetrics_including_ties_at_thresholds():
    generator = torch.Generator().manual_seed(0)
    probs = torch.rand(3, 1, 40, 50, generator=generator)
    probs.view(-1)[:200] = torch.linspace(0, 1, 200)  # exactly on the grid: `>=` decides
    labels = (torch.rand(3, 1, 40, 50, generator=generator) < probs).long()
    labels[:, :, 30:] = IGNORE_INDEX
    ours = BinnedAveragePrecision(thresholds=200, ignore_index=IGNORE_INDEX)
    library = BinaryAveragePrecision(thresholds=200, ignore_index=IGNORE_INDEX)
    for metric in (ours, library):
        metric.update(probs, labels)
    assert torch.equal(ours.confmat, library.confmat)
    assert ours.compute().item() == pytest.approx(library.compute().item())


def test_calibration_error_matches_the_hand_computed_value_and_torchmetrics():
    # Two bins: [0, .5) holds .25, .25 (no fire): |0 - .25| * 2/5; [.5, 1] holds .55, .75, .75 (fire):
    # |1 - 2.05/3| * 3/5. Sum 0.29.
    ece = BinnedCalibrationError(n_bins=2)
    ece.update(torch.tensor([0.25, 0.25, 0.55, 0.75, 0.75]), torch.tensor([0, 0, 1, 1, 1]))
    assert ece.compute().item() == pytest.approx(0.29, abs=1e-6)

    generator = torch.Generator().manual_seed(1)
    probs = torch.rand(5000, generator=generator)
    probs[:5] = 1.0  # the library's extra last bin
    labels = (torch.rand(5000, generator=generator) < probs**2).long()
    labels[::9] = IGNORE_INDEX
    ours, library = BinnedCalibrationError(15), BinaryCalibrationError(15, ignore_index=IGNORE_INDEX)
    for chunk in range(5):  # several updates: the sums must accumulate like the library's lists
        part = slice(chunk * 1000, (chunk + 1) * 1000)
        ours.update(probs[part], labels[part])
        library.update(probs[part], labels[part])
    assert ours.compute().item() == pytest.approx(library.compute().item(), abs=1e-6)


def test_threshold_search_finds_the_known_best_threshold():
    # Fire at .8 and .75, no fire at .6, .3, .1: every threshold in (.6, .75] separates them (F1 = 1);
    # on the grid 0, .1, ..., 1 that is 0.7 alone.
    probs = torch.tensor([0.8, 0.75, 0.6, 0.3, 0.1])
    labels = torch.tensor([1, 1, 0, 0, 0])
    evaluation = FireEvaluation(pr_thresholds=11)
    evaluation.update(probs, labels)
    threshold, f1 = evaluation.best_threshold()
    assert threshold == pytest.approx(0.7) and f1 == pytest.approx(1.0)


def test_threshold_ties_go_to_the_preferred_threshold():
    # Hard 0/1 predictions score the same at every threshold in (0, 1): keep the one nearest 0.5.
    precision = torch.tensor([0.5, 1.0, 1.0, 1.0, 1.0])
    recall = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0])
    thresholds = torch.tensor([0.0, 0.25, 0.5, 0.75])
    assert best_f1_threshold(precision, recall, thresholds) == (0.5, 1.0)
    assert best_f1_threshold(precision, recall, thresholds, prefer=0.7)[0] == 0.75


def test_newly_burned_is_target_minus_last_fire_and_padding_never_counts():
    last = torch.tensor([[[[1, 1, 0, 0], [0, 0, 0, 1]]]], dtype=torch.float32)
    target = torch.tensor([[[[1, 1, 1, 0], [1, 0, 0, 1]]]], dtype=torch.float32)
    pixel_mask = torch.tensor([[[[True, True, True, False], [True, True, True, False]]]])
    assert newly_burned(target, last).tolist() == [[[[False, False, True, False], [True, False, False, False]]]]

    probs, labels = metric_inputs(torch.zeros_like(target), target, pixel_mask)
    assert labels[0, 0, :, 3].tolist() == [IGNORE_INDEX] * 2  # the padding label the evaluation relies on
    growth = growth_labels(labels, last)
    # Burning before (ignored), padding (ignored), new fire (1), still unburned (0).
    assert growth.tolist() == [[[[-1, -1, 1, -1], [1, 0, 0, -1]]]]

    # A forecast that hits one of the two new pixels and one of the unburned one: P = R = F1 = 1/2.
    forecast = torch.tensor([[[[0.9, 0.9, 0.9, 0.9], [0.1, 0.9, 0.1, 0.9]]]])
    evaluation = FireEvaluation({"half": 0.5})
    evaluation.update(forecast, growth)
    scores = evaluation.compute()
    assert (scores["pixels"], scores["positives"]) == (4, 2)
    assert [scores["at"]["half"][k] for k in ("prec", "rec", "f1")] == pytest.approx([0.5, 0.5, 0.5])
    # Persistence (last fire as the forecast) never predicts a newly burned pixel.
    persistence = FireEvaluation({"half": 0.5})
    persistence.update(last, growth)
    assert persistence.compute()["at"]["half"]["rec"] == 0.0


def test_nothing_counted_gives_none_not_nan():
    evaluation = FireEvaluation({"half": 0.5})
    evaluation.update(torch.rand(1, 1, 2, 2), torch.full((1, 1, 2, 2), IGNORE_INDEX))
    scores = evaluation.compute()
    assert scores["pixels"] == 0 and scores["ap"] is None and scores["at"]["half"]["f1"] is None


# --------------------------------------------------------------------------------------------
# The command on a real checkpoint
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_evaluate_command_writes_the_table_figures_and_json(tiny_run, tmp_path):
    out = tmp_path / "eval"
    proc = run_module("emberformer.evaluate", f"ckpt={tiny_run / 'checkpoints' / 'best.pt'}", "split=test",
                      f"out_dir={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {p.name for p in out.iterdir()} == {"metrics.json", "metrics.md", "pr_curve.png", "f1_by_history.png",
                                               paired.FILE_NAME}
    results = json.loads((out / "metrics.json").read_text())
    # The per-fire counts (compare's paired statistics) add up to the pooled scores.
    per_fire = paired.load(out / paired.FILE_NAME)
    for model, per_model in results["models"].items():
        pooled = sum(per_fire["counts"][f"{model}/newly_burned"].values())
        f1 = per_model["newly_burned"]["at"]["val_best"]["f1"]
        assert float(paired.f1(pooled)) == pytest.approx(float("nan") if f1 is None else f1, nan_ok=True, abs=1e-6)
        hist = sum(per_fire["hist"][f"{model}/newly_burned"].values())
        ap = float(paired.average_precision(hist[None])[0])
        assert ap == pytest.approx(per_model["newly_burned"]["ap"], abs=2e-3)  # 1,000 bins against its 10,000
    assert list(results["models"]) == ["EmberFormer", "Persistence"] and results["split"] == "test"
    trained_on = OmegaConf.create(torch.load(tiny_run / "checkpoints" / "best.pt", weights_only=False)["config"]).data
    assert results["data"]["fingerprint"] == config_lib.build(trained_on).source_fingerprint()  # the run's data
    for per_model in results["models"].values():
        assert 0 < per_model["val_best_threshold"] < 1
        for view in ("all", "newly_burned"):
            scores = per_model[view]
            assert 0 <= scores["ap"] <= 1 and 0 <= scores["ece"] <= 1
            assert set(scores["at"]) == {"pred_thresh", "val_best"}
        assert per_model["newly_burned"]["pixels"] < per_model["all"]["pixels"]
    assert results["models"]["Persistence"]["newly_burned"]["at"]["pred_thresh"]["rec"] == 0.0
    history = results["by_history_length"]
    assert sum(entry["samples"] for entry in history.values()) == results["samples"]
    assert max(map(int, history)) <= 20  # data.max_history
    rollouts = results["rollouts"]
    assert rollouts["steps"] == 6 and list(rollouts["models"]) == ["EmberFormer", "Persistence"]
    for name, per_lead in rollouts["models"].items():
        assert [entry["lead"] for entry in per_lead] == list(range(1, len(per_lead) + 1)) and len(per_lead) <= 6
        assert per_lead[0]["forecasts"] == results["samples"]  # lead 1: every next-step sample of the split
        assert all(0 <= entry[view]["f1"] <= 1 for entry in per_lead for view in ("all", "newly_burned"))
    assert all(entry["newly_burned"]["f1"] == 0 for entry in rollouts["models"]["Persistence"])
    table = (out / "metrics.md").read_text()
    assert "| Persistence | newly burned |" in table and "## By history length T" in table
    assert "## Rollouts" in table and "| EmberFormer F1 | Persistence F1 |" in table
    assert "| EmberFormer | all pixels |" in proc.stdout
    assert (out / "pr_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_evaluating_val_reproduces_the_training_loop_and_logs_to_the_active_wandb_run(tiny_run):
    import wandb

    from emberformer.analysis.evaluate import log_to_wandb
    from emberformer.analysis.scoring import RESULT_FILES, evaluate

    ckpt = tiny_run / "checkpoints" / "last.pt"
    results, out = evaluate(ckpt, split="val", device="cpu")
    assert out == tiny_run / "eval_val_last"  # beside the checkpoint's run, named after it
    assert all((out / name).is_file() for name in RESULT_FILES)
    # Same weights, same val samples, same threshold: the training loop's numbers come back.
    val_metrics = torch.load(ckpt, weights_only=False)["val_metrics"]
    at = results["models"]["EmberFormer"]["all"]["at"]["pred_thresh"]
    for key in ("prec", "rec", "f1", "iou", "acc"):
        assert at[key] == pytest.approx(val_metrics[key], abs=1e-5), key

    run = wandb.init(project="emberformer-tests", mode="offline", dir=str(out),
                     settings=wandb.Settings(console="off", quiet=True))
    try:
        assert log_to_wandb(results, out)  # no run given: the active one
    finally:
        run.finish()
    records = subprocess.run([str(Path(sys.executable).parent / "wandb"), "leet", "inspect", "--json",
                              str(next((out / "wandb").glob("offline-run-*")))],
                             capture_output=True, text=True, check=True, timeout=120).stdout
    history = [json.loads(line) for line in records.splitlines() if '"type":"history"' in line]
    logged = {key.split(".")[0] for record in history for key in record["history"]["item"]}
    assert {"eval/val/metrics", "eval/val/by_history_length", "eval/val/rollouts", "eval/val/pr_curve",
            "eval/val/f1_by_history"} <= logged
    assert '"eval/val/EmberFormer/newly_burned/ap"' in records  # the summary
    assert '"eval/val/EmberFormer/rollout/newly_burned/f1@lead1"' in records


@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_2(tmp_path):
    proc = run_module("emberformer.evaluate", f"ckpt={tmp_path / 'missing.pt'}")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: checkpoint") and len(proc.stderr.strip().splitlines()) == 1

    from emberformer.analysis.scoring import evaluate
    from emberformer.errors import ConfigError

    with pytest.raises(ConfigError, match="split=holdout"):
        evaluate(tmp_path / "missing.pt", split="holdout")
    with pytest.raises(ConfigError, match="rollout_steps=-1"):
        evaluate(tmp_path / "missing.pt", rollout_steps=-1)
