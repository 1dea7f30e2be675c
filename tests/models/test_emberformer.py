"""EmberFormer: shapes, padding invariance, gradients, freezing, parameter groups, config errors."""

from __future__ import annotations

import pytest
import torch
from model_batches import TINY_SEGFORMER, TINY_TEMPORAL, make_batch, run_model, spec
from omegaconf import OmegaConf
from torch import nn

from emberformer.contract import build_model
from emberformer.errors import ConfigError
from emberformer.models import EmberFormer, LearningRates
from emberformer.models.temporal import TemporalBlock


def tiny(**overrides) -> EmberFormer:
    spatial = {"segformer_config": TINY_SEGFORMER, **overrides.pop("spatial", {})}
    return EmberFormer(spec(3), **{**TINY_TEMPORAL, **overrides}, spatial=spatial)


@pytest.mark.parametrize("steps", [1, 20])
@pytest.mark.parametrize("decoder", ["segformer", "unet", "smp_segformer"])
def test_logits_at_input_resolution_for_odd_sizes(steps, decoder):
    spatial = {"decoder": decoder, "encoder": {"unet": "resnet18", "smp_segformer": "mit_b0"}.get(decoder)}
    model = tiny(spatial=spatial).eval()
    batch = make_batch([steps, max(1, steps // 2)], steps, 37, 53)
    with torch.no_grad():
        logits = run_model(model, batch)
    assert logits.shape == (2, 1, 37, 53)
    assert torch.isfinite(logits).all()


def test_without_refinement_the_decoder_output_is_upsampled_logits():
    model = tiny(spatial={"refine_channels": 0, "feature_channels": 2}).eval()
    assert model.spatial.refine_out is None and model.spatial.decoder.classifier.out_channels == 1
    with torch.no_grad():
        assert run_model(model, make_batch([2], 2, 37, 53)).shape == (1, 1, 37, 53)


@pytest.mark.parametrize("skip_quiet", [False, True])
def test_left_padding_does_not_change_the_prediction(skip_quiet):
    model = tiny(skip_quiet_patches=skip_quiet).eval()
    padded = make_batch([3, 6], 6, 40, 40)  # sample 0: 3 real steps after 3 padded ones
    alone = {k: v[:1, 3:] if k in ("fire", "wind", "time_mask") else v[:1] for k, v in padded.items()}
    assert alone["time_mask"].all() and alone["fire"].shape[1] == 3
    with torch.no_grad():
        in_batch = run_model(model, padded)[:1]
        by_itself = run_model(model, alone)
    torch.testing.assert_close(in_batch, by_itself, atol=1e-5, rtol=0)


def test_decoder_reads_the_recent_frames_per_pixel_and_pads_short_histories_as_unburned():
    stage = tiny(spatial={"recent_frames": 3}).eval().spatial
    features = torch.randn(1, TINY_TEMPORAL["d_model"], 4, 4)  # 32 px in patches of 8
    static = torch.rand(1, 3, 32, 32)
    fire = (torch.rand(1, 3, 32, 32) > 0.7).float()
    no_bands = torch.zeros(1, 3, 0, 32, 32)

    def decoder(features, fire, static):
        return stage(features, fire, no_bands[:, : fire.shape[1]], static)

    with torch.no_grad():
        reference = decoder(features, fire, static)
        assert torch.equal(decoder(features, fire[:, 2:], static),
                           decoder(features, torch.cat([torch.zeros(1, 2, 32, 32), fire[:, 2:]], 1), static))
        earlier = fire.clone()
        earlier[0, 0, 10, 20] = 1 - earlier[0, 0, 10, 20]  # one pixel, two steps back
        assert not torch.equal(decoder(features, earlier, static), reference)
        too_old = torch.cat([1 - fire[:, :1], fire], 1)  # four steps back: beyond recent_frames
        assert torch.equal(decoder(features, too_old, static), reference)


def test_every_parameter_gets_a_gradient_with_the_segformer_b1_decoder():
    model = EmberFormer(spec(7), freeze_epochs=0, skip_quiet_patches=True).train()
    # One fire in a corner: the far patches are quiet, so the learned quiet vector is used too.
    batch = make_batch([4, 2], 4, 64, 96, channels=7)
    batch["fire"][:, :, 24:] = 0
    batch["fire"][:, :, :, 24:] = 0
    batch["fire"][:, -2:, 3:9, 4:12] = 1
    nn.functional.binary_cross_entropy_with_logits(run_model(model, batch), batch["target"]).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_guide_sized_model_has_about_15m_parameters():
    model = EmberFormer(spec(7))
    n_params = sum(p.numel() for p in model.parameters())
    assert 14e6 < n_params < 16e6
    assert model.describe() == "EmberFormer (segformer decoder)"


def test_checkpointed_temporal_stage_gives_the_same_gradients():
    batch = make_batch([3, 5], 5, 32, 32)
    grads = []
    for checkpoint in (False, True):
        torch.manual_seed(1)
        model = tiny(checkpoint_temporal=checkpoint).train()
        torch.manual_seed(2)  # same dropout masks in both runs
        run_model(model, batch).sum().backward()
        grads.append([p.grad.clone() for p in model.temporal.parameters()])
    for without, with_checkpoint in zip(*grads, strict=True):
        torch.testing.assert_close(without, with_checkpoint)


def test_quiet_patches_take_the_learned_quiet_vector():
    model = tiny(skip_quiet_patches=True).eval()
    with torch.no_grad():
        model.temporal.quiet.normal_()
    batch = make_batch([3], 3, 64, 64)
    batch["fire"].zero_()
    batch["fire"][0, -1, 2, 2] = 1  # fire only in patch (0, 0) of the 8x8 grid
    with torch.no_grad():
        features = model.temporal(batch["fire"], batch["dynamic"], batch["static"], batch["wind"], batch["time_mask"])
    quiet = model.temporal.quiet[:, None, None]
    torch.testing.assert_close(features[0, :, 2:, :], quiet.expand(-1, 6, 8))
    torch.testing.assert_close(features[0, :, :, 2:], quiet.expand(-1, 8, 6))
    assert not torch.allclose(features[0, :, 1, 1], model.temporal.quiet)  # a neighbour: encoded


def test_temporal_block_is_a_pre_norm_transformer_layer():
    reference = nn.TransformerEncoderLayer(32, 4, 64, 0.1, activation="gelu", batch_first=True, norm_first=True)
    block = TemporalBlock(32, 4, 64, 0.1)
    block.load_state_dict(
        {
            "norm1.weight": reference.norm1.weight,
            "norm1.bias": reference.norm1.bias,
            "qkv.weight": reference.self_attn.in_proj_weight,
            "qkv.bias": reference.self_attn.in_proj_bias,
            "proj.weight": reference.self_attn.out_proj.weight,
            "proj.bias": reference.self_attn.out_proj.bias,
            "norm2.weight": reference.norm2.weight,
            "norm2.bias": reference.norm2.bias,
            "feedforward.0.weight": reference.linear1.weight,
            "feedforward.0.bias": reference.linear1.bias,
            "feedforward.3.weight": reference.linear2.weight,
            "feedforward.3.bias": reference.linear2.bias,
        }
    )
    reference.eval(), block.eval()
    x = torch.randn(5, 7, 32)
    padding = torch.zeros(5, 7, dtype=torch.bool)
    padding[1, :3] = True
    mask = (~padding)[:, None, None, :]
    with torch.no_grad():
        expected = reference(x, src_key_padding_mask=padding)
        torch.testing.assert_close(block(x, mask)[~padding], expected[~padding], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(block(x, mask, last_only=True)[:, 0], expected[:, -1], atol=1e-5, rtol=1e-5)


def test_decoder_frozen_for_freeze_epochs_then_trained():
    model = tiny(freeze_epochs=2).train()
    decoder = model.spatial.decoder
    groups = model.param_groups(LearningRates.same(1e-2), 0.0)
    optimizer = torch.optim.AdamW(groups)
    batch = make_batch([3, 2], 3, 32, 32)

    def train_step():
        optimizer.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(run_model(model, batch), batch["target"]).backward()
        optimizer.step()

    for epoch in (1, 2):
        model.on_epoch_start(epoch)
        before = {k: v.clone() for k, v in decoder.state_dict().items()}
        temporal_before = model.temporal.fire_embed.weight.clone()
        train_step()
        assert all(not p.requires_grad for p in decoder.parameters())
        # Frozen means frozen: weights and BatchNorm statistics stay as they were.
        assert all(torch.equal(before[k], v) for k, v in decoder.state_dict().items())
        assert not torch.equal(temporal_before, model.temporal.fire_embed.weight)
    model.on_epoch_start(3)
    assert all(p.requires_grad for p in decoder.parameters()) and decoder.training
    before = decoder.classifier.weight.clone()
    train_step()
    assert not torch.equal(before, decoder.classifier.weight)
    # The groups kept the frozen parameters all along: one optimizer layout before and after.
    expected = model.param_groups(LearningRates.same(1e-2), 0.0)
    assert [len(g["params"]) for g in groups] == [len(g["params"]) for g in expected]


@pytest.mark.parametrize("decoder", ["segformer", "unet"])
def test_param_groups_cover_every_parameter_once(decoder):
    model = tiny(skip_quiet_patches=True, spatial={"decoder": decoder})
    groups = model.param_groups(LearningRates(lr=5e-3, temporal=1e-3, spatial=1e-4), 0.05)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    by_name = {g["name"] for g in groups}
    assert by_name == {"temporal", "spatial"}
    spatial_ids = {id(p) for g in groups if g["name"] == "spatial" for p in g["params"]}
    assert spatial_ids == {id(p) for p in model.spatial.decoder.parameters()}
    assert all(g["lr"] == (1e-3 if g["name"] == "temporal" else 1e-4) for g in groups)
    assert all(g["lr_source"] == f"optimizer.lr_{g['name']}" for g in groups)
    # Biases, norms and embedding tables aren't decayed; weight matrices and kernels are.
    decayed = {id(p) for g in groups if g["weight_decay"] == 0.05 for p in g["params"]}
    assert not any(id(p) in decayed for p in model.parameters() if p.ndim <= 1)
    assert id(model.temporal.steps_back_embed.weight) not in decayed
    assert id(model.temporal.fire_embed.weight) in decayed
    first_decoder_kernel = next(p for p in model.spatial.decoder.parameters() if p.ndim == 4)
    assert id(first_decoder_kernel) in decayed


def test_built_by_hydra_from_a_dictconfig():
    cfg = OmegaConf.create(
        {
            "_target_": "emberformer.models.EmberFormer",
            **TINY_TEMPORAL,
            "spatial": {"decoder": "segformer", "pretrained": False, "segformer_config": TINY_SEGFORMER},
        }
    )
    model = build_model(cfg, spec(3))
    assert isinstance(model, EmberFormer)
    assert model.spatial_cfg.segformer_config == TINY_SEGFORMER


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"patch_size": 0}, "model.patch_size=0"),
        ({"patch_size": "16"}, "model.patch_size='16'"),
        ({"d_model": 30, "nhead": 4}, "model.d_model=30 is not divisible by model.nhead=4"),
        ({"spatial": {"decoder": "deeplab"}}, "model.spatial.decoder='deeplab' is unknown"),
        ({"spatial": {"decodr": "unet"}}, "model.spatial.decodr is not a known key"),
        ({"spatial": {"segformer_config": {"hidden_size": 8}}}, "segformer_config.hidden_size is not a Segformer"),
        ({"spatial": {"decoder": "unet", "encoder": "resnet9"}}, "resnet9"),
        ({"freeze_epochs": -1}, "model.freeze_epochs=-1"),
        ({"spatial": {"recent_frames": 0}}, "model.spatial.recent_frames=0"),
    ],
)
def test_invalid_config_is_a_one_line_config_error(overrides, message):
    spatial = overrides.pop("spatial", {})
    with pytest.raises(ConfigError) as err:
        EmberFormer(spec(3), **overrides, spatial=spatial)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_history_longer_than_max_history_is_a_config_error():
    model = tiny(max_history=4).eval()
    with pytest.raises(ConfigError, match="model.max_history=4"):
        run_model(model, make_batch([5], 5, 16, 16))


@pytest.mark.parametrize("skip_quiet", [False, True])
def test_trains_under_bf16_autocast_with_channels_last(skip_quiet):
    # What hardware=h100 does (precision bf16, channels_last), on CPU autocast.
    model = tiny(skip_quiet_patches=skip_quiet).train().to(memory_format=torch.channels_last)
    batch = make_batch([3, 4], 4, 40, 48)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = run_model(model, batch)
    assert logits.shape == (2, 1, 40, 48)
    logits.float().mean().backward()
    assert all(p.grad is not None for p in model.spatial.decoder.parameters())


def test_a_deeper_full_resolution_refinement_fuses_the_decoder_with_the_pixels():
    shallow, deep = tiny(), tiny(spatial={"refine_layers": 3})
    extra = sum(p.numel() for p in deep.parameters()) - sum(p.numel() for p in shallow.parameters())
    assert extra == 2 * (16 * 16 * 9 + 16)  # two more 3x3 convolutions of the 16 refinement channels
    assert set(shallow.state_dict()) < set(deep.state_dict())  # the default adds nothing: old checkpoints load
    batch = make_batch([3, 2], 3, 40, 48)
    logits = run_model(deep.train(), batch)
    assert logits.shape == (2, 1, 40, 48)
    logits.mean().backward()
    assert all(p.grad is not None for p in deep.spatial.refine_fuse.parameters())


def test_without_the_temporal_stage_the_decoder_reads_the_pixels_and_the_current_wind():
    model = tiny(temporal_stage=False, spatial={"decoder": "unet", "encoder": "resnet18"})
    assert model.temporal is None and model.spatial.unpatchify is None
    assert "no temporal stage" in model.describe()
    batch = make_batch([3, 2], 3, 40, 48)
    logits = run_model(model.train(), batch)
    assert logits.shape == (2, 1, 40, 48)
    logits.mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    # The current step's wind is an input (constant planes); earlier steps' wind is not.
    model.eval()
    with torch.no_grad():
        base = run_model(model, batch)
        earlier = {**batch, "wind": batch["wind"].clone()}
        earlier["wind"][:, 0] += 5.0
        current = {**batch, "wind": batch["wind"].clone()}
        current["wind"][:, -1] += 5.0
        assert torch.equal(run_model(model, earlier), base)
        assert not torch.allclose(run_model(model, current), base)
    with pytest.raises(ConfigError, match="model.temporal_stage"):
        tiny(temporal_stage="no")
