"""`python -m emberformer.compare` on real tiny sweeps: one per model, plus a failed one, in one folder."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from cli import run_module

from emberformer.analysis import compare, paired

# Flags every sweep shares. debug=fast's model.* keys (d_model, nhead, ...) only fit EmberFormer's
# constructor, so the U-Net gets its own sweep beside EmberFormer's, in the same folder.
COMMON = ["hardware=cpu", "hardware.num_threads=1", "logger.mode=disabled", "metrics.num_previews=0",
          "train.epochs=1", "train.limit_train_batches=1", "train.limit_val_batches=1", "hardware.batch_size=4",
          "data=organized_spreads"]
SWEEPS = {
    "emberformer": ["debug=fast", "model=emberformer", "seed=1,2"],
    "unet": ["model=resnet18_unet_1day", "seed=1,2"],
    "broken": ["model=resnet18_unet_1day", "train.epochs=0"],  # fails its config check: a failed job
}
# The table's columns, written out independently of compare.COLUMNS: (pixels, metric).
EXPECTED_COLUMNS = {"AP": ("all", "ap"), "F1": ("all", "f1"), "precision": ("all", "prec"),
                    "recall": ("all", "rec"), "IoU": ("all", "iou"),
                    "newly burned F1": ("newly_burned", "f1"), "newly burned AP": ("newly_burned", "ap"),
                    "ECE": ("all", "ece")}
# Row label -> (jobs, key of the model in each job's metrics.json)
EXPECTED_ROWS = {"EmberFormer": (["emberformer/0", "emberformer/1"], "EmberFormer"),
                 "U-Net": (["unet/0", "unet/1"], "ResNetUNet"),
                 "Persistence": (["emberformer/0", "emberformer/1", "unet/0", "unet/1"], "Persistence")}
ALL_JOBS = EXPECTED_ROWS["Persistence"][0]


def run_sweeps(parent, data_root) -> None:
    for name, args in SWEEPS.items():
        proc = run_module("emberformer.train", "--multirun", *COMMON, f"data.root={data_root}",
                          f"data.cache_dir={parent.parent / 'cache'}", *args, f"hydra.sweep.dir={parent / name}")
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def markdown_tables(markdown: str) -> list[list[list[str]]]:
    """Every table of the markdown, each a list of rows of cells (without the |---| rule)."""
    tables, current = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            if not line.startswith("|---"):
                current.append([cell.strip() for cell in line.strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    return tables


def job_value(parent, job: str, model_key: str, column: str, threshold: str) -> float | None:
    results = json.loads((parent / job / "eval_test" / "metrics.json").read_text())
    pixels, metric = EXPECTED_COLUMNS[column]
    scores = results["models"][model_key][pixels]
    return scores[metric] if metric in ("ap", "ece") else scores["at"][threshold][metric]


def lead_value(parent, job: str, model_key: str, lead: int, pixels: str) -> float:
    results = json.loads((parent / job / "eval_test" / "metrics.json").read_text())
    return results["rollouts"]["models"][model_key][lead][pixels]["f1"]


@pytest.mark.slow
def test_compare_sweeps_of_two_models(make_spreads, tmp_path, monkeypatch, capsys):
    """One expensive setup (three real sweeps), then the table, a cheap rerun and a failed-only sweep."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("WANDB_MODE", "offline")
    # 6 fires of 5 frames on 32 x 32 crops: val and test get one sequence (4 samples) each.
    data_root = make_spreads(lengths=(5,) * 6, sizes=((32, 32),), landscape_shape=(48, 48))
    sweeps = tmp_path / "sweeps"
    run_sweeps(sweeps, data_root)

    check_table(sweeps, data_root)
    check_rerun_reuses_evaluations_newer_than_their_checkpoint(sweeps, capsys)
    check_no_finished_job_exits_2(sweeps / "broken", capsys)


def check_table(sweeps, data_root):
    proc = run_module("emberformer.compare", str(sweeps))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (sweeps / "comparison.md").read_text() in proc.stdout
    assert "split: **test** (4 samples" in proc.stdout and "Threshold: **val_best**" in proc.stdout
    assert (sweeps / "lead_time.png").stat().st_size > 0

    (header, *body), f1_by_lead, new_f1_by_lead, paired_table = markdown_tables(proc.stdout)
    assert header == ["model", *EXPECTED_COLUMNS, "train min/job"]
    assert [row[0] for row in body] == list(EXPECTED_ROWS)
    saved = json.loads((sweeps / "comparison.json").read_text())
    # The benchmark each row came from: a folder the generator did not write is named by its folder.
    assert [b["name"] for b in saved["benchmarks"]] == [data_root.name]
    assert {row["benchmark"] for row in saved["rows"]} == {data_root.name}
    assert f"## Benchmark: {data_root.name}" in proc.stdout
    assert (saved["split"], saved["threshold"]) == ("test", "val_best")
    assert [row["label"] for row in saved["rows"]] == list(EXPECTED_ROWS)
    column_keys = dict(zip(EXPECTED_COLUMNS, (c["key"] for c in saved["columns"]), strict=True))

    for row, saved_row in zip(body, saved["rows"], strict=True):
        jobs, model_key = EXPECTED_ROWS[row[0]]
        assert saved_row["jobs"] == jobs
        for text, column in zip(row[1:-1], EXPECTED_COLUMNS, strict=True):
            values = [v for job in jobs if (v := job_value(sweeps, job, model_key, column, "val_best")) is not None]
            entry = saved_row["cells"][column_keys[column]]
            assert entry["n"] == len(values)
            if column in ("AP", "newly burned AP"):  # defined whenever the split has (new) fire
                assert len(values) == len(jobs)
            mean, std = np.mean(values), np.std(values, ddof=1)
            assert entry["mean"] == pytest.approx(mean) and entry["std"] == pytest.approx(std, abs=1e-12)
            assert text == f"{mean:.3f} ± {std:.3f} ({len(values)})"
            if row[0] == "Persistence":  # deterministic, and every job scores the same test samples
                assert std == pytest.approx(0.0, abs=1e-12)
        # Training time per job, as each job's result.json records it; none for persistence.
        assert (row[-1] == "–") == (row[0] == "Persistence")
        if row[0] != "Persistence":
            minutes = [json.loads((sweeps / job / "result.json").read_text())["train_seconds"] / 60 for job in jobs]
            assert saved_row["job_minutes"]["mean"] == pytest.approx(np.mean(minutes))
        # Rollouts: one test fire of 5 frames has truth up to 4 steps ahead of its origins.
        by_lead = ((f1_by_lead, ("f1", "all")), (new_f1_by_lead, ("newly_burned_f1", "newly_burned")))
        for table, (key, pixels) in by_lead:
            assert table[0] == ["model", "1", "2", "3", "4"]
            shown = next(line for line in table if line[0] == row[0])
            for lead, (text, entry) in enumerate(zip(shown[1:], saved_row["lead_times"][key], strict=True)):
                values = [lead_value(sweeps, job, model_key, lead, pixels) for job in jobs]
                assert entry["values"] == pytest.approx(values)
                assert text == f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"

    # Paired: each row against the best other by newly burned AP, over the one test fire they share.
    assert paired_table[0] == ["model", "against", "newly burned AP", "newly burned F1",
                               "rollout newly burned F1, lead 1", "rollout newly burned F1, lead 6"]
    means = {row["label"]: row["cells"]["newly_burned_ap"]["mean"] for row in saved["rows"]}
    for saved_row, shown in zip(saved["rows"], paired_table[1:], strict=True):
        best_other = max((label for label in means if label != saved_row["label"]), key=means.get)
        pair, = saved_row["paired"]
        assert (shown[:2], pair["against"]) == ([saved_row["label"], best_other], best_other)
        entry = pair["newly_burned_ap"]
        assert entry["fires"] == 1 and entry["low"] <= entry["difference"] <= entry["high"]
        assert entry["verdict"] in ("ahead", "level", "behind") and shown[2].endswith(entry["verdict"])
        assert pair["rollout_f1_lead6"] is None  # 5 frames: no forecast 6 steps ahead

    assert [(s["job"], s["status"]) for s in saved["skipped"]] == [("broken/0", "failed")]
    assert "train.epochs=0" in saved["skipped"][0]["reason"]
    assert proc.stdout.index("- broken/0: failed") > proc.stdout.index("| Persistence |")
    assert f"- {data_root.name}, EmberFormer: " in proc.stdout


def check_rerun_reuses_evaluations_newer_than_their_checkpoint(sweeps, capsys):
    metrics = {job: sweeps / job / "eval_test" / "metrics.json" for job in ALL_JOBS}
    before = {job: path.stat().st_mtime_ns for job, path in metrics.items()}
    retrained = sweeps / "unet" / "1" / "checkpoints" / "best.pt"
    os.utime(retrained, ns=(before["unet/1"] + 10**9, before["unet/1"] + 10**9))
    # An evaluation made on other data files (e.g. evaluate data_root=...) is not reused either.
    other_data = metrics["emberformer/0"]
    results = json.loads(other_data.read_text())
    results["data"]["fingerprint"] = "0" * 24
    other_data.write_text(json.dumps(results))
    before["emberformer/0"] = other_data.stat().st_mtime_ns
    capsys.readouterr()

    comparison = compare.main([str(sweeps), "threshold=pred_thresh", "reference=resnet18_unet_1day"])

    reused = {job: job not in ("unet/1", "emberformer/0") for job in ALL_JOBS}
    assert {job: e["reused"] for job, e in comparison["evaluations"].items()} == reused
    assert {job: path.stat().st_mtime_ns == before[job] for job, path in metrics.items()} == reused
    assert "Threshold: **pred_thresh** = 0.50" in capsys.readouterr().out
    ember = comparison["rows"][0]
    assert ember["thresholds"] == [0.5, 0.5]
    assert "U-Net" in [pair["against"] for pair in ember["paired"]]  # the reference, whoever is best
    # Persistence's row holds the reference's jobs too, but is not the reference.
    assert all(pair["against"] != "Persistence" or pair["best_other"] for row in comparison["rows"]
               for pair in row["paired"])
    f1s = [job_value(sweeps, job, "EmberFormer", "F1", "pred_thresh") for job in EXPECTED_ROWS["EmberFormer"][0]]
    assert ember["cells"]["f1"]["values"] == pytest.approx(f1s)


def check_no_finished_job_exits_2(broken, capsys):
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        compare.main([str(broken)])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no finished job" in err and "failed" in err and "\n" not in err


@pytest.mark.parametrize(("make_args", "message"), [
    (lambda tmp: [str(tmp / "missing")], "no such folder"),
    (lambda tmp: [str(tmp)], "not the sweep dir"),
    (lambda tmp: [str(tmp), "thresh=val_best"], "thresh=val_best: not an option"),
    (lambda tmp: [str(tmp), "threshold=best"], "threshold=best must be one of"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, make_args, message):
    with pytest.raises(SystemExit) as exited:
        compare.main(make_args(tmp_path))
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def _results(description: str, model_key: str, benchmark: str, f1: float) -> dict:
    """An evaluation's metrics.json as far as the grouping reads it (one lead time of rollouts)."""
    at = {"threshold": 0.5, "prec": f1, "rec": f1, "f1": f1, "iou": f1}
    view = {"ap": f1, "ece": 0.01, "at": {"val_best": at, "pred_thresh": at}}
    scores = {"all": view, "newly_burned": view}
    lead = [{"lead": 1, "forecasts": 3, "all": {"f1": f1}, "newly_burned": {"f1": f1}}]
    return {"model": description, "data": {"benchmark": benchmark},
            "models": {model_key: scores, "Persistence": scores},
            "rollouts": {"models": {model_key: lead, "Persistence": lead}}}


def test_rows_split_by_benchmark_and_two_presets_of_one_class_keep_their_descriptions(tmp_path):
    # The benchmark is what the data module called the data when the job was evaluated.
    EMBEDDED_ROOT, other = "embedded", "my_fires"

    def job(name, overrides, description, benchmark, f1):
        metrics_path = tmp_path / name / "metrics.json"
        metrics_path.parent.mkdir(parents=True)
        paired.PerSequence().save(metrics_path.parent / paired.FILE_NAME)  # no fire scored: nothing to pair
        results = _results(description, "ResNetUNet", benchmark, f1)
        overrides = {"seed": name[-1], **overrides}
        return compare.Evaluated(name, overrides, results, metrics_path, reused=False, seconds=60.0)

    five, one = "U-Net (resnet18, last 5 frames)", "U-Net (resnet18, last 1 frames)"
    evaluated = [job("a/0", {"model": "resnet18_unet"}, five, EMBEDDED_ROOT, 0.8),
                 job("a/1", {"model": "resnet18_unet"}, five, EMBEDDED_ROOT, 0.9),
                 job("b/0", {"model": "resnet18_unet_1day"}, one, EMBEDDED_ROOT, 0.7),
                 job("c/0", {"model": "resnet18_unet_1day"}, one, other, 0.4),
                 job("d/0", {"model": "resnet18_unet", "loss.bce_weight": "0.3"}, five, other, 0.6),
                 job("d/1", {"model": "resnet18_unet", "loss.bce_weight": "0.7"}, five, other, 0.5)]
    rows = compare.group_rows(evaluated)
    # Rows keep the order models first appear in, on every benchmark; a knob a job lacks is not shown.
    assert [(r.benchmark, r.label, r.jobs) for r in rows] == [
        ("embedded", five, ["a/0", "a/1"]),
        ("embedded", one, ["b/0"]),
        ("embedded", "Persistence", ["a/0", "a/1", "b/0"]),
        ("my_fires", f"{five} [loss.bce_weight=0.3]", ["d/0"]),
        ("my_fires", f"{five} [loss.bce_weight=0.7]", ["d/1"]),
        ("my_fires", one, ["c/0"]),
        ("my_fires", "Persistence", ["c/0", "d/0", "d/1"]),
    ]
    # Without a second preset of the class the short name is enough.
    assert [r.label for r in compare.group_rows(evaluated[:2])] == ["U-Net", "Persistence"]
    assert rows[0].cells["f1"]["mean"] == pytest.approx(0.85) and rows[0].lead_times["f1"][0]["n"] == 2
    assert rows[0].job_minutes["mean"] == pytest.approx(1.0) and rows[2].job_minutes["n"] == 0
    # Each row is paired with the best other row of its benchmark; with no fire scored, no difference.
    assert [p["against"] for p in rows[1].paired] == [five] and rows[1].paired[0]["newly_burned_ap"] is None


def test_sweeps_are_found_at_any_depth_but_not_inside_jobs_or_runs(tmp_path):
    for sweep in ("embedded", "hard/emberformer", "hard/utae"):
        (tmp_path / sweep / "0" / ".hydra").mkdir(parents=True)
        (tmp_path / sweep / "multirun.yaml").write_text("hydra: {}\n")
    (tmp_path / "hard" / "emberformer" / "0" / "inner").mkdir()
    (tmp_path / "hard" / "emberformer" / "0" / "inner" / "multirun.yaml").write_text("hydra: {}\n")
    (tmp_path / "single_run" / ".hydra").mkdir(parents=True)
    found = compare.find_sweeps(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["embedded", "hard/emberformer", "hard/utae"]
    assert compare.find_sweeps(tmp_path / "hard" / "utae") == [tmp_path / "hard" / "utae"]
