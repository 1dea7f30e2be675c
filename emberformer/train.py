"""Train a next-step fire-spread model: `python -m emberformer.train [group=option ...] [key=value ...]`.

Reads top to bottom: check the config, set up the run (emberformer/training/run.py), restore a
checkpoint if asked, start the logger and print the banner, fit (emberformer/training/loop.py),
finish. Under `--multirun` each job writes `result.json` and returns its best monitored value.
"""

from __future__ import annotations

import sys
import time

import hydra
from omegaconf import DictConfig

from emberformer import config as config_lib
from emberformer.errors import EmberFormerError, show_tracebacks
from emberformer.training.loop import fit
from emberformer.training.run import finish, restore, run_dir_and_mode, set_up, start_logging, write_result


def train(cfg: DictConfig) -> float:
    """One training run; returns its best monitored value (what a sweeper optimises)."""
    config_lib.validate(cfg)
    run = set_up(cfg)
    restore(run)
    start_logging(run)
    outcome = fit(run)
    return finish(run, outcome)


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
