"""`model.spatial.pretrained`: a local save_pretrained directory, and the offline error."""

from __future__ import annotations

import huggingface_hub.constants
import pytest
import torch
from model_batches import TINY_SEGFORMER, TINY_TEMPORAL, make_batch, run_model, spec
from transformers import SegformerConfig, SegformerForSemanticSegmentation

from emberformer.errors import ConfigError
from emberformer.models import EmberFormer

STATIC_CHANNELS = 5
FEATURE_CHANNELS = 4  # the decoder sees 4 + 5 static + 1 fire = 10 input channels


@pytest.fixture
def offline_empty_cache(monkeypatch, tmp_path):
    """No network and nothing cached, whatever this machine's Hugging Face cache holds."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))


def build(pretrained) -> EmberFormer:
    return EmberFormer(
        spec(STATIC_CHANNELS),
        **TINY_TEMPORAL,
        spatial={"pretrained": pretrained, "feature_channels": FEATURE_CHANNELS},
    )


def test_encoder_weights_come_from_a_local_directory(tmp_path, offline_empty_cache):
    # A full SegFormer segmentation checkpoint (RGB input, 150-class head), as on the hub.
    source = SegformerForSemanticSegmentation(SegformerConfig(**TINY_SEGFORMER, num_labels=150))
    source.save_pretrained(tmp_path / "segformer")
    saved = {k.removeprefix("segformer."): v for k, v in source.state_dict().items()}

    model = build(str(tmp_path / "segformer"))
    encoder = model.spatial.decoder.encoder
    loaded = encoder.state_dict()
    first_conv = "stages.0.patch_embeddings.proj.weight"
    assert set(loaded) == set(saved) - {k for k in saved if k.startswith("decode_head.")}
    for key, value in loaded.items():
        if key != first_conv:
            torch.testing.assert_close(value, saved[key], msg=key)
    # The RGB filters became one mean filter per input channel, scaled by 3 / channels.
    in_channels = FEATURE_CHANNELS + STATIC_CHANNELS + model.spatial.recent_frames
    expected = saved[first_conv].mean(dim=1, keepdim=True).repeat(1, in_channels, 1, 1) * 3 / in_channels
    torch.testing.assert_close(loaded[first_conv], expected)
    assert model.describe() == f"EmberFormer (segformer decoder, pretrained from {tmp_path / 'segformer'})"

    batch = make_batch([2, 3], 3, 24, 40, channels=STATIC_CHANNELS)
    assert run_model(model.eval(), batch).shape == (2, 1, 24, 40)


def test_hub_id_without_network_or_cache_is_a_one_line_config_error(offline_empty_cache):
    with pytest.raises(ConfigError) as err:
        build("nvidia/mit-b1")
    message = str(err.value)
    assert "\n" not in message
    assert "model.spatial.pretrained='nvidia/mit-b1'" in message and "offline" in message
    # ...and how to proceed: no pretrained weights, or a directory saved where there is network.
    assert "model.spatial.pretrained=false" in message and "model.spatial.pretrained=/path/to/" in message


def test_directory_without_a_checkpoint_is_a_config_error(tmp_path, offline_empty_cache):
    with pytest.raises(ConfigError, match="no SegFormer checkpoint in that directory"):
        build(str(tmp_path))


def test_checkpoint_of_another_architecture_is_a_config_error(tmp_path, offline_empty_cache):
    from transformers import ConvNextConfig, ConvNextModel

    ConvNextModel(ConvNextConfig(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1])).save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="not a SegFormer encoder checkpoint"):
        build(str(tmp_path))


def test_pretrained_with_an_architecture_override_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="can't be combined"):
        EmberFormer(spec(3), spatial={"pretrained": str(tmp_path), "segformer_config": TINY_SEGFORMER})


@pytest.mark.parametrize("decoder", ["unet", "smp_segformer"])
def test_smp_imagenet_weights_without_network_or_cache_are_a_config_error(decoder, offline_empty_cache):
    with pytest.raises(ConfigError) as err:
        EmberFormer(spec(3), **TINY_TEMPORAL, spatial={"decoder": decoder, "pretrained": True})
    assert "weights aren't available offline" in str(err.value) and "model.spatial.pretrained=false" in str(err.value)
