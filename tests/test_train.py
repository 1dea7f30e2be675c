"""End-to-end: real `python -m emberformer.train` runs on a few embedded sequences, CPU, W&B offline."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli import child_env

GUIDE_STEP_KEYS = {"train/loss_step", "train/bce_step", "train/dice_step", "train/prec_step", "train/rec_step",
                   "train/f1_step", "train/iou_step", "train/acc_step", "train/batch_T_avg"}
GUIDE_EPOCH_KEYS = {f"{split}/{m}_epoch" for split in ("train", "val") for m in ("loss", "prec", "rec", "f1", "iou", "acc")}
GUIDE_EPOCH_KEYS |= {"train/lr_temporal", "train/lr_spatial", "train/T_avg_epoch", "early_stop/counter",
                     "early_stop/best_value", "early_stop/best_epoch", "val/preview"}
FAST = ["debug=fast", "hardware=cpu"]


def train_cmd(*overrides):
    return [sys.executable, "-m", "emberformer.train", *FAST, *overrides]


def run_train(run_dir: Path, *overrides, check=True):
    proc = subprocess.run(train_cmd(f"hydra.run.dir={run_dir}", *overrides), capture_output=True, text=True,
                          env=child_env(), timeout=600)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def wandb_history_keys(run_dir: Path) -> tuple[set, dict]:
    wandb_dir = next((run_dir / "wandb").glob("offline-run-*"))
    out = subprocess.run([str(Path(sys.executable).parent / "wandb"), "leet", "inspect", "--json", str(wandb_dir)],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    keys = set()
    for line in out.splitlines():
        record = json.loads(line)
        if record.get("type") == "history":
            keys |= {k.split(".")[0] for k in record["history"]["item"]}
    summary = json.loads(subprocess.run(
        [str(Path(sys.executable).parent / "wandb"), "leet", "inspect", "--summary", "--json", str(wandb_dir)],
        capture_output=True, text=True, check=True, timeout=120).stdout)
    return keys, summary


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    return run_dir, run_train(run_dir)


@pytest.mark.slow
def test_two_epoch_run_prints_the_guide_console_output(finished_run):
    run_dir, proc = finished_run
    out = proc.stdout
    assert "Starting Training: 2 epochs" in out
    for line in ("Model: EmberFormer", "Train samples:", "Val samples:", "Batch size: 4",
                 "LR temporal: 1.00e-03, LR spatial: 1.00e-03", "Loss: BCE (0.5) + Dice (0.5)",
                 "Early stopping: enabled (patience=10, monitor=val/f1)", "W&B run:"):
        assert line in out, line
    assert "[Epoch  1/2] BCE+Dice | train: loss=" in out and "[Epoch  2/2] BCE+Dice" in out
    assert " iou=" in out and "Training complete!" in out
    assert "Epoch 1/2 [Train]" in proc.stderr and "Epoch 1/2 [Val]" in proc.stderr  # tqdm bars


@pytest.mark.slow
def test_run_writes_checkpoints_result_and_previews(finished_run):
    run_dir, _ = finished_run
    best = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=False)
    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=False)
    assert last["epoch"] == 2 and best["epoch"] == last["early_stopping"]["best_epoch"]
    for key in ("model", "optimizer", "scaler", "scheduler", "early_stopping", "step", "rng", "config", "wandb_run_id"):
        assert key in last, key
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "completed" and result["stop_epoch"] == 2
    assert 0 <= result["best_value"] <= 1
    assert sorted(p.name for p in (run_dir / "previews").iterdir()) == [
        "epoch_001_0.png", "epoch_001_1.png", "epoch_002_0.png", "epoch_002_1.png"]


@pytest.mark.slow
def test_wandb_offline_run_holds_the_guide_keys(finished_run):
    run_dir, _ = finished_run
    keys, summary = wandb_history_keys(run_dir)
    assert GUIDE_STEP_KEYS <= keys, GUIDE_STEP_KEYS - keys
    assert GUIDE_EPOCH_KEYS <= keys, GUIDE_EPOCH_KEYS - keys
    assert summary["state"] == "finished"
    assert summary["config"]["model"]["d_model"] == 32  # the resolved Hydra config
    records = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("val/f1_epoch" in r for r in records)


@pytest.mark.slow
def test_interrupted_run_resumes_at_the_next_epoch_in_the_same_wandb_run(tmp_path):
    first = tmp_path / "first"
    proc = subprocess.Popen(train_cmd(f"hydra.run.dir={first}", "train.epochs=3", "train.limit_train_batches=4"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=child_env())
    for line in proc.stdout:
        if line.startswith("[Epoch  1/3]"):
            proc.send_signal(signal.SIGINT)
            break
    proc.stdout.read()
    assert proc.wait(timeout=120) != 0
    saved = torch.load(first / "checkpoints" / "last.pt", weights_only=False)
    assert saved["epoch"] in (1, 2)  # the signal may land during epoch 2's first batches
    assert json.loads((first / "result.json").read_text())["status"] == "interrupted"

    second = tmp_path / "second"
    resumed = run_train(second, "train.epochs=3", "train.limit_train_batches=4",
                        f"train.resume={first / 'checkpoints' / 'last.pt'}")
    assert f"(from epoch {saved['epoch'] + 1})" in resumed.stdout
    assert f"[Epoch  {saved['epoch']}/3]" not in resumed.stdout and "[Epoch  3/3]" in resumed.stdout
    final = torch.load(second / "checkpoints" / "last.pt", weights_only=False)
    assert final["epoch"] == 3 and final["wandb_run_id"] == saved["wandb_run_id"]
    assert final["step"] > saved["step"]


@pytest.mark.slow
def test_resume_with_incompatible_model_fails_before_training(finished_run, tmp_path):
    run_dir, _ = finished_run
    proc = run_train(tmp_path / "bad", "model.d_model=64", f"train.resume={run_dir / 'checkpoints' / 'last.pt'}",
                     check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: checkpoint")
    assert "model.d_model=32 but the config has 64" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_invalid_value_fails_before_data_loads_with_one_line(tmp_path):
    proc = subprocess.run(train_cmd(f"hydra.run.dir={tmp_path}", "early_stopping.patience=-3", "data.root=/nonexistent"),
                          capture_output=True, text=True, env=child_env(), timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: early_stopping.patience=-3 must be a whole number >= 0 "
                                   "(e.g. early_stopping.patience=10)")


@pytest.mark.slow
def test_resume_from_a_run_folder_takes_its_last_checkpoint(finished_run, tmp_path):
    run_dir, _ = finished_run
    resumed = run_train(tmp_path / "more", "train.epochs=3", f"train.resume={run_dir}")
    assert f"train.resume={run_dir} is a folder: resuming from {run_dir / 'checkpoints' / 'last.pt'}" in resumed.stderr
    assert "(from epoch 3)" in resumed.stdout and "[Epoch  3/3]" in resumed.stdout


def test_resume_from_a_folder_without_checkpoints_lists_what_it_holds(tmp_path):
    folder = tmp_path / "not_a_run"
    (folder / "notes").mkdir(parents=True)
    (folder / "config.yaml").write_text("x: 1\n")
    proc = run_train(tmp_path / "run", f"train.resume={folder}", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: train.resume={folder} is a folder without checkpoints/last.pt (it holds config.yaml, notes/); "
        "pass a run folder or its checkpoints/last.pt")


@pytest.mark.slow
def test_a_stopped_run_continues_with_resume_auto_and_a_finished_one_is_skipped(tmp_path):
    run_dir = tmp_path / "job"
    one = ["train.limit_train_batches=1", "logger.mode=disabled", "metrics.num_previews=0", "train.resume=auto"]
    first = run_train(run_dir, "train.epochs=1", *one)
    assert "continuing from" not in first.stderr  # nothing to continue: a new run
    # As a stopped sweep job leaves it: last.pt written, result.json not saying it finished.
    (run_dir / "result.json").write_text(json.dumps({"status": "interrupted"}))
    again = run_train(run_dir, "train.epochs=2", *one, "train.test_after=true")
    assert f"train.resume=auto: continuing from {run_dir / 'checkpoints' / 'last.pt'}" in again.stderr
    assert "Resuming Training: 2 epochs (from epoch 2)" in again.stdout
    result = json.loads((run_dir / "result.json").read_text())
    assert (result["status"], result["stop_epoch"]) == ("completed", 2) and result["train_seconds"] > 0
    # train.test_after: best.pt scored on the test split, newly burned AP first.
    assert "Test split (" in again.stdout and "newly burned AP" in again.stdout
    assert set(result["test"]) == {"newly_burned_ap", "ap", "f1", "samples"}
    assert (run_dir / "eval_test" / "metrics.json").is_file()
    skipped = run_train(run_dir, "train.epochs=2", *one)
    assert f"train.resume=auto: {run_dir} already finished (completed); skipped" in skipped.stderr
    assert "Starting Training" not in skipped.stdout


@pytest.mark.slow
def test_early_stopping_can_follow_the_newly_burned_pixels(tmp_path):
    run_train(tmp_path, "early_stopping=growth", "logger.mode=disabled", "metrics.num_previews=0")
    result = json.loads((tmp_path / "result.json").read_text())
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if "val/growth_ap_epoch" in r]
    assert len(epochs) == 2 and all({"val/growth_f1_epoch", "val/growth_prec_epoch"} <= set(r) for r in epochs)
    assert result["monitor"] == "val/growth_ap"
    assert result["best_value"] == pytest.approx(max(r["val/growth_ap_epoch"] for r in epochs))
