"""`python -m emberformer.bench`: the train step, the data path and the real loop, each as JSON."""

from __future__ import annotations

import json
import math
import time

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from emberformer.bench.cli import main, run_cli
from emberformer.bench.data import BatchClock
from emberformer.config import model_preset
from emberformer.errors import ConfigError

TINY = ["model.name=emberformer_tiny"]  # conf/model/emberformer_tiny.yaml, the debug=fast model


def test_bench_times_a_step_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    result = run_cli([*TINY, "batch=2", "size=40x56", "patch=8", "T=3", "channels=4", "threads=1",
                      "steps=2", "warmup=1", f"out={out}"])
    assert json.loads(out.read_text()) == result
    assert result["shape"] == {"batch": 2, "T": 3, "height": 40, "width": 56, "channels": 4}
    assert result["median_s_per_step"] > 0 and result["samples_per_s"] == pytest.approx(2 / result["median_s_per_step"])
    assert set(result["ms"]) == {"temporal", "spatial", "loss_optimizer"} and min(result["ms"].values()) > 0
    assert result["peak_rss_gb"] > 0
    printed = capsys.readouterr().out
    assert "s/step" in printed and "temporal" in printed and "peak RSS" in printed


def test_bench_times_a_baseline():
    result = run_cli(["model.name=resnet18_unet_1day", "batch=2", "size=64", "T=2", "channels=3", "steps=1"])
    assert result["model"] == "U-Net (resnet18, last 1 frames)" and result["ms"]["temporal"] == 0


@pytest.mark.slow
def test_bench_times_the_fast_paths_together(capsys):
    # bf16 autocast, channels_last and torch.compile (inductor, C++ on the CPU) in one step.
    result = run_cli([*TINY, "batch=2", "size=32", "patch=8", "T=2", "channels=3", "threads=1", "steps=1",
                      "precision=bf16", "channels_last=true", "compile=true"])
    assert (result["precision"], result["compile"], result["channels_last"]) == ("bf16", True, True)
    assert result["ms"] is None and math.isfinite(result["median_s_per_step"])
    assert "bf16+compile+channels_last" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["bach=4"], "bach"),
    (["batch=0x"], "batch"),
    (["steps=0"], "steps=0"),
    (["batch"], "not key=value"),
    (["size=4x"], "size='4x'"),
    (["model.name=persistence"], "model.name=.persistence."),
    (["model.d_modl=32"], "model.d_modl is not an argument of EmberFormer"),
    (["device=tpu"], "device=.tpu."),
    (["precision=fp8"], "precision='fp8' must be fp32, bf16 or fp16"),
    (["mode=data", "precision=bf16"], "precision does not apply to mode=data; it is read by mode=step"),
    (["mode=train"], "mode='train' is unknown; choose one of step, data, loop, all"),
    (["mode=data", "size=64"], "size does not apply to mode=data; it is read by mode=step"),
    (["mode=data", "model.d_model=8"], "model does not apply to mode=data"),
    (["mode=loop", "hardware=tpu"], "hardware='tpu' is not a preset in conf/hardware; choose one of .*cpu"),
    (["mode=loop", "loss=mse"], "loss='mse' is not a preset in conf/loss"),
    (["mode=data", "workers=-1"], "workers=-1 must be >= 0"),
    (["mode=data", "data.rooot=/x"], "data.rooot is not a data setting; conf/data takes root, max_history"),
])
def test_bad_arguments_are_config_errors(args, message):
    with pytest.raises(ConfigError, match=message):
        run_cli(args)


@pytest.mark.parametrize("args", [["batch=0x"], ["mode=bogus"]])
def test_main_reports_a_user_error_in_one_line(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


class SlowSamples(Dataset):
    """Samples that take `delay_s` each to produce."""

    def __init__(self, count: int, delay_s: float):
        self.count, self.delay_s = count, delay_s

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict:
        time.sleep(self.delay_s)
        return {"target": torch.zeros(1)}


def test_batch_clock_separates_waiting_for_data_from_the_step():
    loader = DataLoader(SlowSamples(4, delay_s=0.01), batch_size=2)  # 2 batches an epoch, >= 20 ms each
    clock = BatchClock()
    epochs = clock.draw(loader, 3, on_epoch=lambda epoch, batches: [time.sleep(0.03) for _ in batches])
    assert epochs == 2 and [b.samples for b in clock.steps] == [2, 2, 2]
    for timing in clock.steps:
        assert timing.wait_s >= 0.02 and timing.work_s >= 0.03
        assert timing.total_s == timing.wait_s + timing.work_s and timing.cpu_s < timing.total_s  # sleeping


@pytest.fixture
def spreads_args(make_spreads, tmp_path) -> list[str]:
    """Two generated fires (3 + 4 train samples, all in train) with their cache under tmp_path."""
    root = make_spreads(lengths=(4, 5), sizes=((24, 32),))
    return [f"data.root={root}", f"data.cache_dir={tmp_path / 'cache'}", "data.max_history=3",
            "data.val_fraction=0", "data.test_fraction=0", "hardware=cpu", "threads=1"]


def test_data_mode_times_the_loader_across_epochs_and_the_png_baseline(spreads_args, tmp_path, capsys):
    out = tmp_path / "data.json"
    # 4 batches of 2 per epoch: 1 + 6 batches span two epochs of a persistent worker.
    result = run_cli(["mode=data", *spreads_args, "batch=2", "workers=1", "persistent_workers=true",
                      "steps=6", "warmup=1", "io_samples=5", f"out={out}"])
    assert json.loads(out.read_text()) == result
    assert result["mode"] == "data" and result["data"]["train_samples"] == 7
    assert result["hardware"] == {"preset": "cpu", "batch_size": 2, "num_workers": 1, "pin_memory": False,
                                  "persistent_workers": True}
    assert result["batches"] == 6 and result["epochs"] == 2
    assert result["loader_samples_per_s"] > 0 and 0 < result["ms_per_batch"] <= result["max_batch_ms"]
    assert result["io"]["samples"] == 5 and result["io"]["png_samples_per_s"] > 0
    assert result["io"]["cache_samples_per_s"] > 0 and not result["io"]["cache_built"]  # the loader's cache
    printed = capsys.readouterr().out
    assert "DataLoader, cache" in printed and "one process, PNGs" in printed


def test_loop_mode_trains_on_the_real_loader(spreads_args, tmp_path):
    out = tmp_path / "loop.json"
    result = run_cli(["mode=loop", *spreads_args, "device=cpu", "batch=2", "steps=4", "warmup=1",
                      "loss=bce", f"out={out}"])
    assert json.loads(out.read_text()) == result
    # The CPU default: the small EmberFormer.
    assert result["model_args"]["d_model"] == model_preset("emberformer_tiny")["d_model"] and result["params"] > 0
    assert result["hardware"]["batch_size"] == 2 and result["hardware"]["device"] == "cpu"
    assert result["loss"].startswith("BCE") and math.isfinite(result["last_epoch_loss"])
    assert result["steps"] == 4 and result["epochs"] == 2
    assert 0 <= result["data_wait_share"] <= 1 and result["samples_per_s"] > 0
    assert 0 < result["median_ms_per_step"] and result["median_wait_ms"] <= result["max_wait_ms"]
    assert result["wall_s"] >= result["mean_ms_per_step"] * result["steps"] / 1e3
    assert result["peak_rss_gb"] > 0


def test_all_mode_runs_every_mode_into_one_json(spreads_args, tmp_path, capsys):
    out = tmp_path / "all.json"
    result = run_cli(["mode=all", *spreads_args, *TINY, "batch=2", "size=32", "patch=8", "T=2",
                      "steps=2", "warmup=0", "io_samples=3", f"out={out}"])
    assert json.loads(out.read_text()) == result
    assert list(result) == ["data", "loop", "step"]
    assert [r["mode"] for r in result.values()] == ["data", "loop", "step"]
    # model.* keys reach both model modes; the step's shape comes from size/T, the loop's from the data.
    assert result["loop"]["model_args"]["d_model"] == result["step"]["model_args"]["d_model"] == 32
    assert result["step"]["shape"]["height"] == 32 and result["loop"]["data"]["max_history"] == 3
    assert all(r["samples_per_s" if m != "data" else "loader_samples_per_s"] > 0 for m, r in result.items())
    summary = capsys.readouterr().out.splitlines()[-4:]
    assert summary[0].split() == ["mode", "samples/s", "ms/step"]
    assert [line.split()[0] for line in summary[1:]] == ["data", "loop", "step"]


def test_wildfirespreadts_loader_bench_runs_without_wsts(wsts_root, tmp_path):
    # Without a WSTS checkout it times this project's loader alone (CI has no network for one).
    from emberformer.bench.wildfirespreadts import BenchArgs, run, wsts_dataset_class

    report = run(BenchArgs(root=str(wsts_root.geotiff), batch_sizes=[2], samples=4, rounds=1, crop=48,
                           cache_dir=str(tmp_path / "cache"), out=str(tmp_path / "bench.json")))
    assert set(report["samples_per_s"]) == {"emberformer loader", "emberformer loader + features on the CPU"}
    assert all(rate > 0 for per in report["samples_per_s"].values() for rate in per["2"])
    assert report["ratios"] == {} and json.loads((tmp_path / "bench.json").read_text()) == report
    with pytest.raises(ConfigError, match="no src/dataloader/FireSpreadDataset.py"):
        wsts_dataset_class(tmp_path)
