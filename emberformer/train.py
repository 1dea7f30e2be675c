"""Train a next-step fire-spread model: `python -m emberformer.train [group=option ...] [key=value ...]`.

Reads top to bottom: check the config, set up the run (emberformer/training/run.py), restore a
checkpoint if asked, start the logger and print the banner, fit (emberformer/training/loop.py),
finish, and with `train.test_after` score best.pt on the test split (what the quickstart reports).
Under `--multirun` each job writes `result.json` and returns its best monitored value.
"""

from __future__ import annotations

import json
import sys
import time

import hydra
from omegaconf import DictConfig

from emberformer import config as config_lib
from emberformer.errors import EmberFormerError, show_tracebacks
from emberformer.training.loop import fit
from emberformer.training.run import (
    AUTO,
    finish,
    finished_result,
    restore,
    run_dir_and_mode,
    set_up,
    start_logging,
    write_result,
)


def train(cfg: DictConfig) -> float:
    """One training run; returns its best monitored value (what a sweeper optimises)."""
    config_lib.validate(cfg)
    run_dir = run_dir_and_mode()[0]
    if cfg.train.resume == AUTO and (done := finished_result(run_dir)) is not None:
        print(f"train.resume=auto: {run_dir} already finished ({done['status']}); skipped", file=sys.stderr, flush=True)
        return done["best_value"]
    run = set_up(cfg)
    restore(run)
    start_logging(run)
    started = time.perf_counter()
    outcome = fit(run)
    best = finish(run, outcome, train_seconds=time.perf_counter() - started)
    if cfg.train.test_after and run.dist.is_main:
        test_best(run)
    return best


def test_best(run) -> None:
    """best.pt on the test split, newly burned AP first: the one figure that says the model learned more
    than persistence (`python -m emberformer.evaluate` adds the rollouts and per-T tables)."""
    from emberformer.analysis.scoring import evaluate

    results, out = evaluate(run.checkpoint_dir / "best.pt", split="test", rollout_steps=0,
                            device=run.hardware.device, precision=run.hardware.precision)
    scores = next(iter(results["models"].values()))
    summary = {"newly_burned_ap": scores["newly_burned"]["ap"], "ap": scores["all"]["ap"],
               "f1": scores["all"]["at"]["val_best"]["f1"], "samples": results["samples"]}
    result_path = run.run_dir / "result.json"
    result_path.write_text(json.dumps({**json.loads(result_path.read_text()), "test": summary}, indent=2) + "\n")
    print(f"Test split ({summary['samples']} samples, best.pt): newly burned AP {summary['newly_burned_ap']:.3f}, "
          f"AP {summary['ap']:.3f}, F1 {summary['f1']:.3f} at the val-best threshold ({out})", flush=True)


@hydra.main(version_base="1.3", config_path=str(config_lib.CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    started = time.time()
    run_dir, is_multirun = run_dir_and_mode()
    try:
        return train(cfg)
    except Exception as err:
        if is_multirun and not show_tracebacks():
            # One bad job (bad value, NaN, out of memory) must not end the sweep: record it, go on.
            print(f"error: {err}", file=sys.stderr, flush=True)
            write_result(run_dir, status="failed", error=f"{type(err).__name__}: {err}",
                         seconds=round(time.time() - started, 1))
            # None, not NaN: the Optuna sweeper marks a trial with a non-numeric return as failed and
            # goes on, whereas a NaN makes it crash (optuna rejects NaN, then the plugin's fallback raises).
            return None
        if isinstance(err, EmberFormerError) and not show_tracebacks():
            print(f"error: {err}", file=sys.stderr, flush=True)
            sys.exit(err.exit_code)
        raise


if __name__ == "__main__":
    # `python -m emberformer.train` runs this file as __main__, whose functions cloudpickle copies by
    # value (and fails on torch.backends.cudnn) when joblib/submitit ship the task to a worker: call
    # main from the module imported under its own name so they are pickled by reference.
    from emberformer.train import main as importable_main

    importable_main()
