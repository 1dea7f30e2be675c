"""Bad input, interruptions, numerical faults, W&B trouble and reproducibility — on real runs."""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from cli import child_env

from emberformer.training.wandb_logger import WandbLogger

TINY = ["debug=fast", "hardware=cpu", "train.limit_val_batches=1", "metrics.num_previews=1"]


def train(run_dir: Path, *overrides, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "emberformer.train", *TINY, f"hydra.run.dir={run_dir}", *overrides],
                          capture_output=True, text=True, env=env or child_env(), timeout=timeout)


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ")
    for needle in needles:
        assert needle in last
    assert "Traceback" not in proc.stderr


def test_missing_data_root_is_one_line(tmp_path):
    proc = train(tmp_path / "run", "data=organized_spreads", f"data.root={tmp_path}/nowhere")
    assert_one_line_error(proc, f"{tmp_path}/nowhere")


@pytest.mark.parametrize("data", ["organized_spreads", "wildfirespreadts"])
def test_a_data_root_not_given_is_one_line_not_the_embedded_data(tmp_path, data):
    # data=organized_spreads without data.root used to train on the embedded data, saying nothing.
    proc = train(tmp_path / "run", f"data={data}")
    assert_one_line_error(proc)
    assert proc.stderr.strip().splitlines()[-1] == ("error: data.root is required and not set (???); give it on the "
                                                    "command line, e.g. data.root=/path/to/your/data")
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize(("override", "message"), [
    ("seed=-1", "error: seed=-1 must be a whole number between 0 and 2**32 - 1024 (e.g. seed=42)"),
    ("loss.bce_weight=nan", "error: loss.bce_weight=nan is not a finite number; give a finite value"),
    ("optimizer.lr_temporal=inf", "error: optimizer.lr_temporal=inf is not a finite number; give a finite value"),
])
def test_bad_numbers_are_one_line_before_anything_runs(tmp_path, override, message):
    proc = train(tmp_path / "run", override)
    assert_one_line_error(proc)
    assert proc.stderr.strip().splitlines()[-1] == message
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_an_output_folder_below_a_file_is_one_line(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    proc = train(tmp_path / "a_file" / "run")
    assert_one_line_error(proc, f"hydra.run.dir={tmp_path}/a_file/run", f"{tmp_path}/a_file is a file, not a folder")
    assert (tmp_path / "a_file").read_text() == "not a folder"


def test_full_traceback_on_request(tmp_path):
    proc = train(tmp_path / "run", "data=organized_spreads", f"data.root={tmp_path}/nowhere",
                 env=child_env(HYDRA_FULL_ERROR="1"))
    assert proc.returncode != 0 and "Traceback" in proc.stderr


@pytest.mark.slow
def test_nan_loss_stops_with_the_step_or_is_skipped(tmp_path):
    # An absurd learning rate overflows the weights after the first update.
    blowup = ["optimizer.lr_temporal=1e30", "optimizer.lr_spatial=1e30", "optimizer.warmup_epochs=0",
              "train.grad_clip=null"]
    stopped = train(tmp_path / "stop", *blowup)
    assert_one_line_error(stopped, "loss became nan at epoch 1, step 1 (train batch 1)", "train.nan_policy=skip")
    assert not (tmp_path / "stop" / "checkpoints").exists()  # nothing half-trained was saved as best
    # Skipping drops the bad training steps; the broken weights then show in validation, which stops.
    skipped = train(tmp_path / "skip", *blowup, "train.nan_policy=skip")
    assert_one_line_error(skipped, "(val batch 0, after skipping 1 train steps)")


@pytest.mark.slow
def test_a_failing_logger_never_stops_training(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "metrics.jsonl").mkdir(parents=True)  # every append to it fails
    proc = train(run_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "logging failed" in proc.stderr and "training continues" in proc.stderr
    assert (run_dir / "checkpoints" / "last.pt").is_file()


@pytest.mark.parametrize("env,note", [
    ({"WANDB_API_KEY": None}, "no W&B credentials"),  # and HOME without a .netrc
    # The discard port on loopback: nothing listens, so the connection is refused at once.
    ({"WANDB_API_KEY": "x" * 40, "WANDB_BASE_URL": "http://127.0.0.1:9"}, "unreachable"),
], ids=["no-credentials", "no-network"])
def test_online_mode_falls_back_to_offline(env, note, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WANDB_MODE", "online")
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    logger = WandbLogger(project="t", mode="online")
    logger.start(tmp_path / "run", {"a": 1})
    try:
        assert logger.run.settings.mode == "offline"
        assert note in capsys.readouterr().err
    finally:
        logger.finish()


@pytest.mark.slow
def test_deterministic_runs_repeat_to_the_last_digit(tmp_path):
    results = []
    for name in ("a", "b"):
        proc = train(tmp_path / name, "deterministic=true", "seed=7", "logger.mode=disabled")
        assert proc.returncode == 0, proc.stderr[-2000:]
        results.append(json.loads((tmp_path / name / "result.json").read_text()))
    assert results[0]["final_val"] == results[1]["final_val"]
    assert results[0]["best_value"] == results[1]["best_value"]


@pytest.mark.slow
def test_sigkill_at_random_points_never_corrupts_checkpoints_and_resume_finishes(tmp_path):
    rng = random.Random(3)
    epochs = ["train.epochs=3", "train.limit_train_batches=3", "logger.mode=disabled"]
    resume_from, attempt = None, 0
    while True:
        attempt += 1
        run_dir = tmp_path / f"attempt{attempt}"
        args = [*epochs, *([f"train.resume={resume_from}"] if resume_from else [])]
        cmd = [sys.executable, "-m", "emberformer.train", *TINY, f"hydra.run.dir={run_dir}", *args]
        if attempt > 2:  # two kills, then let it finish
            proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=600)
            assert proc.returncode == 0, proc.stderr[-2000:]
            resume_from = run_dir / "checkpoints" / "last.pt"
            break
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env())
        deadline = time.monotonic() + 300
        while not (run_dir / "checkpoints" / "last.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(rng.uniform(0.0, 3.0))  # land anywhere: mid-batch, mid-validation, mid-save
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for path in (run_dir / "checkpoints").glob("*"):
            assert not path.name.startswith("."), f"left a temp file {path.name}"
            torch.load(path, weights_only=False)  # every checkpoint on disk loads
        if (run_dir / "checkpoints" / "last.pt").exists():
            resume_from = run_dir / "checkpoints" / "last.pt"
            if torch.load(resume_from, weights_only=False)["epoch"] == 3:
                break  # the kill landed after the last epoch was saved: nothing left to resume
    final = torch.load(resume_from, weights_only=False)
    assert final["epoch"] == 3  # as many epochs as an uninterrupted run
    # Resuming a finished run is refused with a one-line hint instead of silently doing nothing.
    again = train(tmp_path / "again", *epochs, f"train.resume={resume_from}")
    assert_one_line_error(again, "already finished epoch 3 of train.epochs=3")
