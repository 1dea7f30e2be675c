"""Sweeps: real `--multirun` runs of emberformer.train (basic, Optuna and submitit_local launchers) on a
few embedded sequences with a tiny model on the CPU, and `emberformer.sweep` summaries of them.

The summary's corner cases that would need long or interrupted trainings (a sweep still running,
a val/loss monitor, three knobs, a hundred Optuna samples) read small job folders these tests
write in the run-dir format train.py writes.
"""

import csv
import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_module
from PIL import Image

from emberformer.analysis.runs import load_sweep
from emberformer.analysis.sweep import heatmap_knobs, main, summarize

# One batch per epoch of debug=fast's ~0.3M-parameter EmberFormer: a job trains in a few seconds.
TINY = ["debug=fast", "hardware=cpu", "hardware.num_threads=1", "logger.mode=disabled", "metrics.num_previews=0",
        "train.limit_train_batches=1", "train.limit_val_batches=1"]
FINISHED = {"completed", "early_stopped"}


def multirun(sweep_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("EMBERFORMER_DEBUG", None)
    env.pop("HYDRA_FULL_ERROR", None)
    cmd = [sys.executable, "-m", "emberformer.train", "--multirun", *TINY, *overrides, f"hydra.sweep.dir={sweep_dir}"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400)


def run_sweep(tmp_path_factory, name: str, *overrides: str):
    sweep_dir = tmp_path_factory.mktemp(name)
    proc = multirun(sweep_dir, *overrides)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sweep, markdown, written = summarize(sweep_dir)
    return proc, sweep, markdown, written


def results(sweep) -> dict[str, dict]:
    return {job.name: json.loads((job.path / "result.json").read_text()) for job in sweep.jobs}


def table_rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines[1:]]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    # Larger steps than the defaults, so that two of them move val/f1 apart between the loss weights.
    return run_sweep(tmp_path_factory, "grid", "optimizer.lr_temporal=2e-3", "optimizer.lr_spatial=2e-3",
                     "optimizer.warmup_epochs=0", "loss.bce_weight=0.3,0.7", "early_stopping.patience=1,2")


@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    # The first job's value fails validation; the second job must still run.
    return run_sweep(tmp_path_factory, "failing", "early_stopping.patience=-1,1")


@pytest.fixture(scope="module")
def optuna(tmp_path_factory):
    # With this seed TPE's first (random) trials draw patience -1 (fails), then 1.
    return run_sweep(tmp_path_factory, "optuna", "hparams_search=optuna", "hydra.sweeper.n_trials=2",
                     "hydra.sweeper.sampler.seed=1", "early_stopping.patience=choice(-1,1)")


@pytest.fixture(scope="module")
def submitit(tmp_path_factory):
    return run_sweep(tmp_path_factory, "submitit", "hydra/launcher=submitit_local", "loss.bce_weight=0.3,0.7")


# --------------------------------------------------------------------------------------------
# Grid sweep on the basic launcher
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_grid_multirun_trains_every_combination(grid):
    proc, sweep, _, _ = grid
    combos = {(job.overrides["loss.bce_weight"], job.overrides["early_stopping.patience"]) for job in sweep.jobs}
    assert combos == set(itertools.product(("0.3", "0.7"), ("1", "2")))
    assert {r["status"] for r in results(sweep).values()} <= FINISHED
    # dice_weight follows 1 - bce_weight in every job.
    assert "Loss: BCE (0.3) + Dice (0.7)" in proc.stdout and "Loss: BCE (0.7) + Dice (0.3)" in proc.stdout
    assert sweep.swept == ["loss.bce_weight", "early_stopping.patience"] and sweep.planned == 4
    assert sweep.fixed["debug"] == "fast"


@pytest.mark.slow
def test_summary_ranks_jobs_by_their_best_value(grid):
    _, sweep, markdown, written = grid
    recorded = results(sweep)
    assert [job.rank for job in sweep.jobs] == [1, 2, 3, 4]
    values = [job.best_value for job in sweep.jobs]
    assert values == [pytest.approx(recorded[job.name]["best_value"]) for job in sweep.jobs]
    order = [(-job.best_value, int(job.name)) for job in sweep.jobs]
    assert order == sorted(order)  # best first; equal values in job order

    rows = table_rows(markdown)
    assert [row[1] for row in rows] == [job.name for job in sweep.jobs]
    assert [row[0] for row in rows] == ["1", "2", "3", "4"]
    assert "| rank | job | loss.bce_weight | early_stopping.patience | status | best val/f1 |" in markdown
    best = sweep.jobs[0]
    assert f"Best: job {best.name}, val/f1 = {best.best_value:.4f}" in markdown
    assert f"loss.bce_weight={best.overrides['loss.bce_weight']}" in markdown.split("Rerun it:")[1]

    assert {p.name for p in written} == {"summary.md", "summary.csv", "heatmap.png", "curves.png"}
    assert (sweep.path / "summary.md").read_text() == markdown
    with open(sweep.path / "summary.csv") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert [r["job"] for r in csv_rows] == [job.name for job in sweep.jobs]
    assert [float(r["best val/f1"]) for r in csv_rows] == pytest.approx(values, abs=1e-4)
    assert all(Path(r["run_dir"]).is_dir() for r in csv_rows)


@pytest.mark.slow
def test_summary_draws_the_heatmap_and_the_curves(grid):
    _, sweep, _, _ = grid
    assert heatmap_knobs(sweep) == ["loss.bce_weight", "early_stopping.patience"]
    for name in ("heatmap.png", "curves.png"):
        with Image.open(sweep.path / name) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 200
    assert all(len(job.curve) == job.epochs_run for job in sweep.jobs)


@pytest.mark.slow
def test_cli_prints_the_table(grid, capsys):
    _, sweep, markdown, _ = grid
    main([str(sweep.path)])
    out = capsys.readouterr().out
    assert markdown in out and f"wrote {sweep.path / 'summary.md'}" in out


# --------------------------------------------------------------------------------------------
# Failures
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_failing_job_is_recorded_and_the_sweep_goes_on(failing):
    proc, sweep, markdown, _ = failing
    by_patience = {job.overrides["early_stopping.patience"]: job for job in sweep.jobs}
    bad, good = by_patience["-1"], by_patience["1"]
    assert bad.name == "0" and good.name == "1"  # the failure came first; the next job still ran
    assert bad.status == "failed" and "early_stopping.patience=-1" in bad.error
    assert good.status in FINISHED and good.rank == 1
    assert sweep.jobs == [good, bad]
    last_row = table_rows(markdown)[-1]
    assert last_row[1] == "0" and "failed" in last_row and "early_stopping.patience=-1" in last_row[-1]
    assert "error: early_stopping.patience=-1" in proc.stderr


@pytest.mark.slow
def test_optuna_sweep_goes_on_after_a_failed_trial(optuna):
    _, sweep, markdown, written = optuna
    statuses = sorted(job.status for job in sweep.jobs)
    assert len(statuses) == 2 and statuses[0] in FINISHED and statuses[1] == "failed"
    done = sweep.jobs[0]
    assert sweep.optuna["best_value"] == pytest.approx(done.best_value)
    assert sweep.optuna["best_params"]["early_stopping.patience"] == 1
    assert {"loss.bce_weight", "early_stopping.patience", "optimizer.lr_temporal"} <= set(sweep.swept)
    assert sweep.planned == 2
    assert "Optuna (optimization_results.yaml): best value" in markdown
    assert {p.name for p in written} == {"summary.md", "summary.csv", "heatmap.png", "curves.png"}


# --------------------------------------------------------------------------------------------
# Other launchers
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_submitit_local_launcher_runs_the_jobs(submitit):
    _, sweep, _, written = submitit
    assert (sweep.path / ".submitit").is_dir()
    assert sorted(job.overrides["loss.bce_weight"] for job in sweep.jobs) == ["0.3", "0.7"]
    assert all(job.status in FINISHED for job in sweep.jobs) and [j.rank for j in sweep.jobs] == [1, 2]
    assert sweep.swept == ["loss.bce_weight"] and "heatmap.png" in {p.name for p in written}  # a bar chart


@pytest.mark.parametrize("launcher,target", [
    ("joblib", "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"),
    ("submitit_local", "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"),
    ("slurm", "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
])
def test_launchers_resolve_from_our_config_path(launcher, target):
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_ == target


def test_slurm_launcher_knobs_override_on_the_command_line():
    overrides = ["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=4",
                 "hydra.launcher.timeout_min=90", "hydra.launcher.mem_gb=32"]
    with initialize_config_module(config_module="conf", version_base="1.3"):
        launcher = compose(config_name="train", overrides=overrides, return_hydra_config=True).hydra.launcher
    assert (launcher.partition, launcher.gpus_per_node, launcher.timeout_min, launcher.mem_gb) == ("gpu", 4, 90, 32)
    assert launcher.tasks_per_node == 1 and launcher.max_num_timeout == 0


def test_optuna_search_space_composes():
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose(config_name="train", overrides=["hparams_search=optuna"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.sampler.seed == 42
    assert set(sweeper.params) == {"loss.bce_weight", "early_stopping.patience", "optimizer.lr_temporal"}
    assert cfg.loss._target_ == "emberformer.losses.BCEDiceLoss"


# --------------------------------------------------------------------------------------------
# Summary corner cases on job folders written here
# --------------------------------------------------------------------------------------------
def write_job(sweep_dir: Path, num: int, overrides: list[str], curve: list, result: dict | None = None,
              monitor: str = "val/f1", mode: str = "max", partial_line: bool = False) -> Path:
    """A job folder as train.py leaves it: .hydra/, metrics.jsonl (epoch records), result.json if finished."""
    job = sweep_dir / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (job / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"mode": "MULTIRUN"}}))
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"early_stopping": {"monitor": monitor, "mode": mode}}))
    records = [{"step": 10 * e, "epoch": e, f"{monitor}_epoch": v, "val/iou_epoch": 0.5}
               for e, v in enumerate(curve, start=1)]
    text = "".join(json.dumps(r) + "\n" for r in records)
    (job / "metrics.jsonl").write_text(text + ('{"step": 99, "epo' if partial_line else ""))
    if result is not None:
        (job / "result.json").write_text(json.dumps(result))
    return job


def finished(values: list, mode: str = "max", status: str = "completed") -> dict:
    best = (max if mode == "max" else min)(v for v in values if isinstance(v, float) and math.isfinite(v))
    return {"status": status, "monitor": "val/f1", "best_value": best, "best_epoch": values.index(best) + 1,
            "stop_epoch": len(values)}


def test_running_sweep_lists_unfinished_jobs_after_the_finished_ones(tmp_path):
    (tmp_path / "multirun.yaml").write_text(yaml.safe_dump(
        {"hydra": {"sweeper": {"params": None}, "overrides": {"task": ["loss.bce_weight=0.3,0.5,0.7"]}}}))
    write_job(tmp_path, 0, ["loss.bce_weight=0.3"], [0.2, 0.4], finished([0.2, 0.4]))
    write_job(tmp_path, 1, ["loss.bce_weight=0.5"], [0.1, "nan", 0.6], partial_line=True)  # still training
    sweep, markdown, written = summarize(tmp_path)
    assert [(j.name, j.status, j.rank) for j in sweep.jobs] == [("0", "completed", 1), ("1", "running", None)]
    running = sweep.jobs[1]
    assert running.best_value == 0.6 and running.best_epoch == 3 and running.curve == [(1, 0.1), (3, 0.6)]
    assert "2 jobs (1 completed, 1 running), 1 not started yet" in markdown
    assert "running: best so far, last update just now" in table_rows(markdown)[1][-1]
    assert {p.name for p in written} == {"summary.md", "summary.csv", "heatmap.png", "curves.png"}


def test_val_loss_monitor_ranks_the_lowest_first(tmp_path):
    for num, (lr, curve) in enumerate([("1e-3", [0.9, 0.5]), ("1e-4", [0.8, 0.3]), ("1e-2", [0.7, 0.6])]):
        write_job(tmp_path, num, [f"optimizer.lr_temporal={lr}"], curve, finished(curve, "min"), "val/loss", "min")
    sweep = load_sweep(tmp_path)
    assert (sweep.monitor, sweep.mode) == ("val/loss", "min")
    assert [j.overrides["optimizer.lr_temporal"] for j in sweep.jobs] == ["1e-4", "1e-3", "1e-2"]


def test_three_knobs_map_the_two_with_most_values_best_over_the_third(tmp_path):
    grid = itertools.product(("0.3", "0.5", "0.7"), ("5", "10"), ("a", "b", "c", "d"))
    for num, (bce, patience, tag) in enumerate(grid):
        curve = [float(bce) + int(patience) / 100 + num / 1000]
        write_job(tmp_path, num, [f"loss.bce_weight={bce}", f"early_stopping.patience={patience}", f"+tag={tag}"],
                  curve, finished(curve))
    sweep, _, written = summarize(tmp_path)
    assert heatmap_knobs(sweep) == ["+tag", "loss.bce_weight"]
    assert "heatmap.png" in {p.name for p in written}


def test_continuous_optuna_samples_are_scattered(tmp_path):
    (tmp_path / "optimization_results.yaml").write_text(yaml.safe_dump(
        {"name": "optuna", "best_params": {"loss.bce_weight": 0.61}, "best_value": 0.5}))
    for num in range(30):
        bce, lr = 0.2 + num * 0.0201317, 10 ** (-4 + num / 10)
        curve = [round(1 - abs(bce - 0.6), 4)]
        write_job(tmp_path, num, [f"loss.bce_weight={bce!r}", f"optimizer.lr_temporal={lr!r}"], curve, finished(curve))
    sweep, markdown, written = summarize(tmp_path)
    assert len(sweep.jobs) == 30 and "heatmap.png" in {p.name for p in written}
    assert heatmap_knobs(sweep) == ["loss.bce_weight", "optimizer.lr_temporal"]
    # Optuna's long floats are shortened in the table, kept whole in the CSV.
    assert "| 0.2201 |" in markdown and "0.2201317" in (tmp_path / "summary.csv").read_text()
    assert "best value 0.5000 with `loss.bce_weight=0.61`" in markdown


@pytest.mark.parametrize("layout,message", [
    ("missing", "no such folder"),
    ("single_run", "is a single run, not a sweep"),
    ("empty", "is not the sweep dir of a --multirun run"),
    ("dated_folder", "pass one of the sweeps in it"),
    ("not_started", "no job has started yet"),
])
def test_bad_sweep_dirs_exit_2_with_one_line(tmp_path, capsys, layout, message):
    target = tmp_path / "sweep"
    if layout != "missing":
        target.mkdir()
    if layout == "single_run":
        (target / ".hydra").mkdir()
    if layout == "dated_folder":
        (target / "10-00-00").mkdir()
        (target / "10-00-00" / "multirun.yaml").write_text("hydra: {}\n")
    if layout == "not_started":
        (target / "multirun.yaml").write_text("hydra: {}\n")
    with pytest.raises(SystemExit) as exc:
        main([str(target)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
