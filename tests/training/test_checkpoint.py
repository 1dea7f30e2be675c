import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from cli import child_env

from emberformer.errors import CheckpointError
from emberformer.training import checkpoint
from emberformer.training.checkpoint import check_compatible, load_checkpoint, save_checkpoint


def state(d_model=96):
    return {"model": {"w": torch.arange(4.0)}, "config": {"model": {"d_model": d_model, "spatial": {"decoder": "segformer"}}}}


def test_atomic_save_round_trips_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint(path, state())
    save_checkpoint(path, state())  # overwriting goes through a rename too
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.arange(4.0))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def anonymous_files_work_in(folder) -> bool:
    fd = checkpoint._anonymous_file(folder)
    if fd is None:
        return False
    os.close(fd)
    return True


class Explodes:
    """Fails inside torch.save, with the checkpoint's file already open."""

    def __reduce__(self):
        raise RuntimeError("boom")


@pytest.mark.parametrize("anonymous", [True, False], ids=["anonymous-temp", "named-temp"])
def test_failed_save_keeps_the_old_checkpoint_and_leaves_nothing(tmp_path, monkeypatch, anonymous):
    if not anonymous:
        monkeypatch.setattr(checkpoint, "_anonymous_file", lambda folder: None)
    elif not anonymous_files_work_in(tmp_path):
        pytest.skip("no O_TMPFILE here")
    path = tmp_path / "last.pt"
    save_checkpoint(path, state())
    with pytest.raises(RuntimeError, match="boom"):
        save_checkpoint(path, {**state(), "extra": Explodes()})
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.arange(4.0))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_sigkill_mid_write_leaves_no_temp_file(tmp_path):
    if not anonymous_files_work_in(tmp_path):
        pytest.skip("no O_TMPFILE here: a named temp file is left behind by SIGKILL")
    # The child writes a checkpoint whose pickling kills the process inside torch.save, file open.
    script = textwrap.dedent(f"""
        import os, signal, torch
        from emberformer.training.checkpoint import save_checkpoint
        class Die:
            def __reduce__(self):
                os.kill(os.getpid(), signal.SIGKILL)
        save_checkpoint({str(tmp_path / "last.pt")!r}, {{"big": torch.zeros(1_000_000), "die": Die()}})
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=child_env(), timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert list(tmp_path.iterdir()) == []


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(CheckpointError, match="nope.pt does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_truncated_checkpoint_is_reported_as_corrupt(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, state())
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_foreign_file_is_rejected(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match="not written by emberformer.train"):
        load_checkpoint(path)


def test_incompatible_model_config_names_key_and_fix():
    with pytest.raises(CheckpointError, match=r"model.d_model=96 but the config has 64; resume with model.d_model=96"):
        check_compatible(state(96), state(64)["config"], "last.pt")
    check_compatible(state(96), state(96)["config"], "last.pt")
