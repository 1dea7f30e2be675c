"""bf16 on the CPU: chosen where the CPU computes it natively, a tiny model trains under it, and its
checkpoint is plain fp32 that loads and resumes anywhere."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from emberformer.config import compose
from emberformer.contract import InputSpec, build_model, predict_logits
from emberformer.training import hardware as hardware_module
from emberformer.training.checkpoint import load_checkpoint, save_checkpoint, training_state
from emberformer.training.early_stopping import EarlyStopping
from emberformer.training.hardware import Hardware


@pytest.mark.parametrize(("flags", "precision", "why"), [
    ({"amx_bf16": True, "avx512_bf16": True}, "bf16", "natively (amx_bf16, avx512_bf16)"),
    ({"avx512_bf16": True}, "bf16", "natively (avx512_bf16)"),
    ({}, "fp32", "no native bf16 on this CPU"),
])
def test_auto_precision_follows_the_cpus_bf16(monkeypatch, flags, precision, why):
    monkeypatch.setattr(hardware_module.torch.cpu, "get_capabilities", lambda: flags)
    chosen = Hardware(device="cpu", precision="auto")
    assert chosen.precision == precision and why in chosen.describe()
    forced = Hardware(device="cpu", precision="bf16")
    assert forced.precision == "bf16"
    assert ("emulated" in forced.describe()) == (precision == "fp32")  # said when bf16 is asked of a CPU without it


def growing_fires(batch: int = 4, steps: int = 3, size: int = 32) -> dict:
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    radius = torch.hypot(yy - size / 2, xx - size / 2)
    frames = torch.stack([(radius < 3 + 2 * t).float() for t in range(steps + 1)])
    fire = frames[None, :steps].expand(batch, -1, -1, -1).clone()
    return {"fire": fire, "target": frames[None, steps:].expand(batch, -1, -1, -1).clone(),
            "dynamic": torch.zeros(batch, steps, 0, size, size), "static": torch.rand(batch, 3, size, size),
            "wind": torch.randn(batch, steps, 3), "time_mask": torch.ones(batch, steps, dtype=torch.bool)}


def test_a_tiny_model_trains_in_bf16_and_its_checkpoint_loads_in_fp32(tmp_path):
    hardware = Hardware(device="cpu", precision="bf16")
    inputs = InputSpec(static_names=("a", "b", "c"), wind_names=("s", "sin", "cos"))
    cfg = compose(["model=emberformer_tiny", "model.patch_size=8"]).model
    torch.manual_seed(0)
    model = build_model(cfg, inputs).train()
    batch = growing_fires()
    try:
        with hardware.autocast():
            predict_logits(model, batch)
    except RuntimeError as err:  # a build of torch without CPU bf16 autocast
        pytest.skip(f"bf16 autocast unsupported here: {err}")
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        with hardware.autocast():
            logits = predict_logits(model, batch)
        assert logits.dtype == torch.bfloat16  # the step really ran in bf16
        loss = F.binary_cross_entropy_with_logits(logits.float(), batch["target"])  # the loss in fp32
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast never casts the weights

    path = tmp_path / "last.pt"
    save_checkpoint(path, training_state(model, optimizer, None, hardware.grad_scaler(), EarlyStopping(), epoch=1,
                                         step=12, config={}, wandb_run_id=None, val_metrics={}))
    state = load_checkpoint(path)
    assert all(v.dtype == torch.float32 for v in state["model"].values() if v.is_floating_point())
    fp32 = build_model(cfg, inputs).eval()
    fp32.load_state_dict(state["model"])
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(predict_logits(fp32, batch), predict_logits(model, batch))
    # Resuming under fp32: the optimizer state fits, the (disabled) scaler state too.
    torch.optim.AdamW(fp32.parameters(), lr=3e-3).load_state_dict(state["optimizer"])
    Hardware(device="cpu", precision="fp32").grad_scaler().load_state_dict(state["scaler"])
