import pytest
import torch

from emberformer.errors import CheckpointError
from emberformer.training.checkpoint import check_compatible, load_checkpoint, save_checkpoint


def state(d_model=96):
    return {"model": {"w": torch.arange(4.0)}, "config": {"model": {"d_model": d_model, "spatial": {"decoder": "segformer"}}}}


def test_atomic_save_round_trips_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint(path, state())
    save_checkpoint(path, state())  # overwriting goes through a rename too
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.arange(4.0))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


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
