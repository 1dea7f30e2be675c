"""`python -m emberformer.bench.gpu_check`: its dry run end to end, its arguments, and the CUDA
smoke test it runs on a GPU (skipped without one; no other test here needs a GPU)."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import pytest
import torch

from emberformer import config as config_lib
from emberformer.bench import gpu_check
from emberformer.bench.gpu_check import CHECKS, DRY_BANNER, DRY_LABEL, NOT_MEASURED, main, run_check
from emberformer.bench.reference import load_reference, reference_from_run
from emberformer.bench.step import synthetic_batch
from emberformer.contract import InputSpec, build_model, predict_logits
from emberformer.errors import ConfigError, DataError
from emberformer.models import LearningRates
from emberformer.training.hardware import Hardware


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_one_train_step_on_cuda_is_finite(precision):
    # gpu_check runs this on the GPU (CUDA_TEST): the tiny EmberFormer, one AdamW step on `cuda`.
    inputs = InputSpec(static_names=tuple("abcdefg"), wind_names=("speed", "sin", "cos"))
    model = build_model(config_lib.compose(["model=emberformer_tiny"]).model, inputs).cuda().train()
    hardware = Hardware(device="cuda", precision=precision, channels_last=True)
    trained = hardware.prepare(model)
    optimizer = torch.optim.AdamW(model.param_groups(LearningRates.same(1e-3), 0.01))
    before = [p.detach().clone() for p in model.parameters()]
    batch = synthetic_batch(2, 4, 64, 64, inputs, 0.1, torch.Generator().manual_seed(0))
    batch = {k: v.cuda() for k, v in batch.items()}
    with hardware.autocast():
        logits = predict_logits(trained, batch)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), batch["target"])
    loss.backward()
    optimizer.step()
    assert logits.device.type == "cuda" and torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.slow
def test_dry_run_checks_the_whole_pipeline_on_the_cpu(tmp_path):
    out, rows = tmp_path / "check.json", tmp_path / "check.md"
    proc = subprocess.run([sys.executable, "-m", "emberformer.bench.gpu_check", "dry=true", f"out={out}",
                           f"rows={rows}"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.startswith("=" * 60 + f"\n{DRY_BANNER}") and "GPU check PASSED (4/4 checks)" in proc.stdout

    report = json.loads(out.read_text())
    assert report["dry"] is True and report["passed"] is True and report["torch"] == torch.__version__
    assert report["cuda_visible_devices"] == "" and report["device"].endswith("(CPU)")
    assert list(report["checks"]) == list(CHECKS) and all(c["passed"] for c in report["checks"].values())
    checks = report["checks"]
    assert checks["tests"]["counts"]["passed"] > 0 and checks["tests"]["cuda_smoke_test"] == "skipped"
    assert list(checks["step"]["paths"]) == ["fp32", "bf16", "bf16+compile"]
    assert [p["precision"] for p in checks["step"]["paths"].values()] == ["fp32", "bf16", "bf16"]
    assert all(p["s_per_step"] > 0 and p["peak_of"] == "RSS" for p in checks["step"]["paths"].values())
    training = checks["training"]
    assert training["epochs"] == 2 and training["loss_falls"] and 0 <= training["val_f1"] <= 1
    assert training["reference"] is None  # the dry run's tiny model has no F1 reference
    loop = checks["loop"]
    assert loop["data"].startswith("embedded data (fallback") and 0 <= loop["data_wait_share"] <= 1
    assert loop["peak_of"] == "RSS" and loop["peak_gb"] > 0
    assert len(report["commands"]) == 6
    assert report["commands"][0].startswith("CUDA_VISIBLE_DEVICES='' python -m pytest")
    logs = tmp_path / "check_logs"
    assert {p.name for p in logs.iterdir()} >= {"tests.log", "tests.xml", "step_fp32.log", "step_bf16_compile.log",
                                                 "training.log", "training_metrics.jsonl", "loop.log"}

    text = rows.read_text()
    assert "| bf16+compile — dry run (CPU), not a GPU measurement; compile skipped in the dry run |" in text
    assert text.count(DRY_LABEL) == 5 and text.count(NOT_MEASURED) == 3 * 3 + 3 + 3
    assert "| bf16+compile | not measured yet | not measured yet | not measured yet |" in text
    assert "`python -m emberformer.train experiment=quickstart hardware=h100`" in text

    # The same report as a GPU would write it: measured rows, none left to measure.
    gpu = {**report, "dry": False, "device": "NVIDIA H200", "scale_root": "/data/scale"}
    reference = load_reference()["final_val"]["f1"]
    gpu["checks"]["training"]["reference"] = {"f1": reference, "tolerance": gpu_check.F1_TOLERANCE}
    text = gpu_check.markdown(gpu)
    assert NOT_MEASURED not in text and DRY_LABEL not in text and "(NVIDIA H200)" in text
    assert f"(CPU quickstart: {reference:.3f})" in text and "data.root=/data/scale" in text


@pytest.mark.slow
def test_the_loop_generates_the_scale_fixture_and_times_it(tmp_path, monkeypatch):
    pytest.importorskip(gpu_check.SCALE_MODULE)
    monkeypatch.setattr(gpu_check, "CHECKS", ("loop",))
    monkeypatch.setattr(gpu_check, "SCALE_ARGS", ("fraction=0.005", "size=48"))  # 15 small fires
    scale = tmp_path / "scale"
    report = run_check(["dry=true", f"out={tmp_path / 'check.json'}", f"rows={tmp_path / 'check.md'}",
                        f"scale_root={scale}"])
    loop = report["checks"]["loop"]
    assert report["passed"] and loop["data"] == f"10% scale fixture {scale}" and (scale / "fire_frames").is_dir()
    assert [r["command"].split()[3] for r in loop["runs"]] == [gpu_check.SCALE_MODULE, "emberformer.bench"]
    assert f"data.root={scale}" in loop["runs"][1]["command"] and loop["train_samples"] > 0
    assert f"data.root={scale}" in (tmp_path / "check.md").read_text()


def test_a_failing_check_fails_the_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gpu_check, "CHECKS", ("training",))
    monkeypatch.setattr(gpu_check, "DRY", dataclasses.replace(gpu_check.DRY, train=("model=no_such_model",)))
    out = tmp_path / "check.json"
    with pytest.raises(SystemExit) as exit_info:
        main(["dry=true", f"out={out}", f"rows={tmp_path / 'check.md'}"])
    assert exit_info.value.code == 1
    report = json.loads(out.read_text())
    assert report["passed"] is False and report["checks"]["training"]["passed"] is False
    assert report["checks"]["training"]["runs"][0]["error"] == "exit status 1"
    printed = capsys.readouterr().out
    assert "GPU check FAILED (0/1 checks)" in printed and "no_such_model" in printed  # the log's tail


def test_a_command_past_its_time_is_stopped(tmp_path):
    runner = gpu_check.Runner(tmp_path, tmp_path, {}, deadline_s=60, cwd=tmp_path)
    ran = runner.run("sleep", ["-c", "import time; time.sleep(30)"], timeout=1)
    assert ran["returncode"] is None and ran["error"] == "stopped after 1 s" and ran["seconds"] < 10
    assert runner.commands == [ran["command"]]
    ran = gpu_check.Runner(tmp_path, tmp_path, {}, deadline_s=5, cwd=tmp_path).run("late", ["-c", "pass"], timeout=60)
    assert ran["error"] == "not run: the run's deadline has passed"


def test_val_f1_is_compared_with_the_recorded_cpu_quickstart():
    reference, tolerance = load_reference()["final_val"]["f1"], gpu_check.F1_TOLERANCE
    assert 0.5 < reference <= 1  # a real run's F1, recorded from its result.json
    assert gpu_check.f1_close(reference - tolerance / 2, reference)
    assert gpu_check.f1_close(reference + 0.9 * tolerance, reference)
    assert not gpu_check.f1_close(reference - 2 * tolerance, reference)
    assert not gpu_check.f1_close(math.nan, reference) and not gpu_check.f1_close(None, reference)


def test_the_reference_is_recorded_from_a_quickstart_run_only(tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    test = {"split": "test", "newly_burned_ap": 0.75}
    (run / "result.json").write_text(json.dumps({"status": "completed", "final_val": {"f1": 0.9, "prec": 0.8},
                                                 "test": test, "train_seconds": 210.0}))
    (run / ".hydra" / "overrides.yaml").write_text("- experiment=quickstart\n- hardware=cpu\n")
    record = reference_from_run(run)
    assert (record["test"], record["train_seconds"]) == (test, 210.0)
    assert record["final_val"] == {"f1": 0.9, "prec": 0.8} and record["overrides"] == ["experiment=quickstart",
                                                                                        "hardware=cpu"]
    (run / ".hydra" / "overrides.yaml").write_text("- hardware=cpu\n- train.epochs=1\n")
    with pytest.raises(ConfigError, match="trained with hardware=cpu train.epochs=1, not experiment=quickstart"):
        reference_from_run(run)
    with pytest.raises(DataError, match="no readable quickstart reference"):
        load_reference(tmp_path / "none.json")


def test_the_checkout_is_found_from_here_or_beside_the_package(tmp_path):
    checkout = tmp_path / "repo"
    (checkout / "tests" / "bench").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    (checkout / "tests" / "bench" / "test_gpu_check.py").write_text("")
    (checkout / "deep" / "er").mkdir(parents=True)
    elsewhere = tmp_path / "site-packages"
    elsewhere.mkdir()
    assert gpu_check.find_checkout(checkout / "deep" / "er", package_parent=elsewhere) == checkout
    assert gpu_check.find_checkout(elsewhere, package_parent=checkout) == checkout  # an editable install
    assert gpu_check.find_checkout(elsewhere, package_parent=elsewhere) is None


def test_without_a_checkout_the_tests_are_skipped_in_one_line_and_the_rest_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gpu_check, "CHECKS", ("tests",))
    monkeypatch.setattr(gpu_check, "find_checkout", lambda: None)
    report = main(["dry=true", f"out={tmp_path / 'check.json'}", f"rows={tmp_path / 'check.md'}"])
    assert report["passed"] and report["checks"]["tests"]["passed"] is None and report["checkout"] is None
    printed = capsys.readouterr().out
    assert "[tests] skip in 0 s: skipped: the tests need the repository's checkout (run from it)" in printed
    assert "GPU check PASSED (0/0 checks, 1 skipped)" in printed


def test_epoch_losses_come_from_the_epoch_records(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("\n".join(json.dumps(r) for r in [
        {"step": 1, "train/loss_step": 0.9}, {"step": 2, "epoch": 1, "train/loss_epoch": 0.8},
        {"step": 4, "epoch": 2, "train/loss_epoch": 0.5, "val/f1_epoch": 0.4}]) + "\n")
    assert gpu_check.epoch_losses(metrics) == [0.8, 0.5] and gpu_check.epoch_losses(tmp_path / "none") == []


@pytest.mark.parametrize(("args", "message"), [
    (["dri=true"], "unknown argument 'dri'"),
    (["dry=maybe"], "argument dry=maybe"),
    (["run"], "not key=value"),
    (["out=/no/such/folder/x.json"], "out=/no/such/folder/x.json: the folder /no/such/folder does not exist"),
    (["rows=/no/such/folder/x.md"], "rows=.*does not exist"),
    (["out={tmp}"], "is a folder"),
    (["out={tmp}/a", "rows={tmp}/a"], "out and rows are the same file"),
    (["scale_root={tmp}/a.json"], "scale_root=.*is a file"),
])
def test_bad_arguments_are_config_errors(args, message, tmp_path, monkeypatch):
    (tmp_path / "a.json").write_text("{}")
    with pytest.raises(ConfigError, match=message):
        run_check([arg.format(tmp=tmp_path) for arg in args])


def test_a_missing_scale_root_needs_its_generator(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_check.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"scale_root=.*does not exist and emberformer.data.generate.scale"):
        run_check([f"scale_root={tmp_path / 'scale'}"])


def test_main_reports_a_user_error_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["dry=maybe"])
    assert exit_info.value.code == 2 and capsys.readouterr().err.count("\n") == 1


def test_help_starts_with_the_command_line(capsys):
    assert main(["--help"]) is None
    assert capsys.readouterr().out.startswith("python -m emberformer.bench.gpu_check [dry=false]")
