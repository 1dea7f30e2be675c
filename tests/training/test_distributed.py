"""DDP through torchrun: 2 CPU ranks (gloo) train in step, and only rank 0 writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


@pytest.mark.slow
def test_two_rank_gloo_run_keeps_ranks_in_sync_and_writes_once(tmp_path):
    # The decoder is frozen in epoch 1 and trained in epoch 2: DDP must be rebuilt at the
    # unfreeze, or the decoder's gradients stay per-rank and the replicas drift apart.
    run_dir = tmp_path / "run"
    torchrun = Path(sys.executable).parent / "torchrun"
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "emberformer.train", "debug=fast",
         "hardware=cpu", "train.limit_val_batches=1", "model.freeze_epochs=1",
         f"hydra.run.dir={run_dir}"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("Starting Training") == 1  # one banner: rank 0 prints
    assert "Batch size: 4 x 2 ranks" in proc.stdout

    result = json.loads((run_dir / "result.json").read_text())
    assert result["world_size"] == 2
    first, second = result["rank_weight_checksums"]
    assert first == second  # both ranks hold the same weights after training
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=False)
    assert state["epoch"] == 2
    assert not any(k.startswith("module.") for k in state["model"])  # the unwrapped model is saved
    # Only rank 0's Hydra output dir survives.
    assert [p for p in tmp_path.iterdir()] == [run_dir]
