"""`python -m emberformer.bench`: times a train step and writes JSON."""

from __future__ import annotations

import json

import pytest

from emberformer import bench
from emberformer.errors import ConfigError

TINY = [
    "model.d_model=32", "model.nhead=4", "model.num_layers=1", "model.dim_feedforward=64",
    "model.spatial.segformer_config.hidden_sizes=[8,16,32,64]",
    "model.spatial.segformer_config.num_attention_heads=[1,1,2,4]",
    "model.spatial.segformer_config.decoder_hidden_size=16",
]


def test_bench_times_a_step_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    result = bench.run_cli([*TINY, "batch=2", "size=40x56", "patch=8", "T=3", "channels=4", "threads=1",
                         "steps=2", "warmup=1", f"out={out}"])
    assert json.loads(out.read_text()) == result
    assert result["shape"] == {"batch": 2, "T": 3, "height": 40, "width": 56, "channels": 4}
    assert result["median_s_per_step"] > 0 and result["samples_per_s"] == pytest.approx(2 / result["median_s_per_step"])
    assert set(result["ms"]) == {"temporal", "spatial", "loss_optimizer"} and min(result["ms"].values()) > 0
    assert result["peak_rss_gb"] > 0
    printed = capsys.readouterr().out
    assert "s/step" in printed and "temporal" in printed and "peak RSS" in printed


def test_bench_times_the_unet_baseline():
    result = bench.run_cli(["model.name=unet", "batch=2", "size=64", "T=2", "channels=3", "steps=1"])
    assert result["model"].startswith("U-Net baseline") and result["ms"]["temporal"] == 0


@pytest.mark.parametrize(("args", "message"), [
    (["bach=4"], "bach"),
    (["batch=0x"], "batch"),
    (["steps=0"], "steps=0"),
    (["batch"], "not key=value"),
    (["size=4x"], "size='4x'"),
    (["model.name=persistence"], "model.name=.persistence."),
    (["model.d_modl=32"], "model.d_modl is not an argument of EmberFormer"),
    (["device=tpu"], "device=.tpu."),
])
def test_bad_arguments_are_config_errors(args, message):
    with pytest.raises(ConfigError, match=message):
        bench.run_cli(args)


def test_main_reports_a_user_error_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["batch=0x"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
