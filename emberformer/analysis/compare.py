"""The headline table, every model of a sweep against persistence, mean ± std over seeds (and over
WildfireSpreadTS's folds, which repeat a configuration on other years):
`python -m emberformer.compare outputs/multirun/<date>/<time> [split=test] [threshold=val_best] [reference=MODEL]`.

Options (key=value): split=train|val|test (test), threshold=val_best|pred_thresh (val_best),
device=auto|cpu|cuda (auto), reference=<a row label or model= preset> (none). The sweep comes from e.g.

```bash
python -m emberformer.train --multirun model=emberformer,resnet18_unet seed=1,2,3 hardware=cpu train.epochs=5
```

Evaluates the best.pt of every finished job (status completed or early_stopped) on the split with
`emberformer.evaluate` (with its rollouts at lead times 1..6), reusing
`<job>/eval_<split>/metrics.json` when it is newer than best.pt and was computed on the same data
(source files' fingerprint) with the same settings, groups the jobs by benchmark (what their data
module calls the data: `embedded`, `preset=hard` from a generated folder's dataset.json,
`WildfireSpreadTS`) and model across seeds and folds and writes `comparison.md`,
`comparison.json` and `lead_time.png` (F1 and newly burned F1 against lead time) beside the jobs.
The folder may also hold several sweeps (e.g. one per model, or one per benchmark): each is read.
Persistence comes from the same evaluations, so it is scored on exactly the samples the models are.
As every model is scored on the same test fires, each is also paired with the best other model (and
with `reference`): the difference in newly burned AP and F1 (and rollout F1 at lead 1 and 6) with a
95% bootstrap interval over the fires, and a verdict, ahead / level / behind (analysis/paired.py).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from emberformer import config as config_lib
from emberformer.analysis import paired
from emberformer.analysis.rollouts import ROLLOUT_STEPS
from emberformer.analysis.runs import SWEEP_FILES, load_sweep
from emberformer.analysis.scoring import ECE_BINS, PERSISTENCE, PR_THRESHOLDS, SPLITS, evaluate
from emberformer.analysis.tables import OPERATING_POINTS
from emberformer.cli import parse_arguments, run_command
from emberformer.errors import ConfigError, DataError, EmberFormerError, exit_on_user_error
from emberformer.naming import natural_key
from emberformer.training.run import FINISHED

# What repeats a configuration rather than changing it (the threads change the speed, not the model).
IGNORED_KEYS = ("seed", "data.fold", "hardware.num_threads", "hardware.num_workers")
# (key, header, pixels, metric): "at" metrics are read at the chosen operating point.
COLUMNS = (
    ("ap", "AP", "all", "ap"),
    ("f1", "F1", "all", "f1"),
    ("precision", "precision", "all", "prec"),
    ("recall", "recall", "all", "rec"),
    ("iou", "IoU", "all", "iou"),
    ("newly_burned_f1", "newly burned F1", "newly_burned", "f1"),
    ("newly_burned_ap", "newly burned AP", "newly_burned", "ap"),
    ("ece", "ECE", "all", "ece"),
)
# The paired differences: name -> (per_sequence.npz kind, key suffix): newly burned AP and F1, and the
# rollouts' newly burned F1 at lead 1 and 6.
PAIRED_KEYS = {"newly_burned_ap": ("hist", "newly_burned"), "newly_burned_f1": ("counts", "newly_burned"),
               "rollout_f1_lead1": ("counts", "rollout_newly_burned/lead1"),
               "rollout_f1_lead6": ("counts", "rollout_newly_burned/lead6")}
PAIRED_HEADERS = {"newly_burned_ap": "newly burned AP", "newly_burned_f1": "newly burned F1",
                  "rollout_f1_lead1": "rollout newly burned F1, lead 1",
                  "rollout_f1_lead6": "rollout newly burned F1, lead 6"}
# Rollout scores by lead time: (key, title, pixels).
LEAD_TIME_SCORES = (("f1", "F1", "all"), ("newly_burned_f1", "newly burned F1", "newly_burned"))
OUTPUT_FILES = ("comparison.md", "comparison.json", "lead_time.png")
EXAMPLE = "python -m emberformer.compare outputs/multirun/2026-11-24/10-00-00"


@dataclass
class Evaluated:
    """A finished job and its evaluation on the split."""

    name: str                   # job folder relative to the compared folder, e.g. "3" or "unet/0"
    overrides: dict[str, str]
    results: dict               # evaluate's metrics.json
    metrics_path: Path
    reused: bool                # metrics.json was already there and newer than best.pt
    seconds: float | None       # the training job's wall time

    @property
    def benchmark(self) -> str:
        return self.results["data"]["benchmark"]

    @property
    def model_key(self) -> str:
        """The trained model's key in results["models"] (its class name)."""
        return next((k for k in self.results["models"] if k != PERSISTENCE), PERSISTENCE)

    @property
    def per_sequence(self) -> dict:
        """The evaluation's scores per test sequence (paired.load of its per_sequence.npz)."""
        if not hasattr(self, "_per_sequence"):
            self._per_sequence = paired.load(self.metrics_path.parent / paired.FILE_NAME)
        return self._per_sequence


@dataclass
class Skipped:
    name: str
    status: str
    reason: str


@dataclass
class Row:
    benchmark: str              # which data, e.g. "embedded" or "preset=hard" (the data module's `benchmark`)
    label: str
    model: str                  # the model's own description, e.g. "EmberFormer (segformer decoder)"
    jobs: list[str]
    distinguishing: dict[str, str] = field(default_factory=dict)   # overrides that set it apart
    thresholds: list[float] = field(default_factory=list)           # per job, at the chosen operating point
    cells: dict[str, dict] = field(default_factory=dict)          # column key -> {mean, std, n, values}
    lead_times: dict[str, list[dict]] = field(default_factory=dict)  # LEAD_TIME_SCORES key -> a cell per lead
    job_minutes: dict = field(default_factory=dict)               # training wall time per job, a cell
    paired: list[dict] = field(default_factory=list)              # against the best other row (and the reference)


# --------------------------------------------------------------------------------------------
# Finding and evaluating the jobs
# --------------------------------------------------------------------------------------------
def find_sweeps(root: Path) -> list[Path]:
    """`root` when it is a sweep, else the sweeps below it at any depth (e.g. one per benchmark,
    or one per benchmark and model)."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; pass the sweep dir of a --multirun training (e.g. {EXAMPLE})")
    if any((root / name).is_file() for name in SWEEP_FILES):
        return [root]
    nested = []
    for dirpath, dirnames, _ in os.walk(root):
        here = Path(dirpath)
        if any((here / name).is_file() for name in SWEEP_FILES):
            nested.append(here)
            dirnames.clear()  # its jobs are read by load_sweep
        elif (here / ".hydra").is_dir():
            dirnames.clear()  # a run of its own
        else:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    nested.sort(key=lambda p: natural_key(str(p.relative_to(root))))
    return nested or [root]  # a sweep without multirun.yaml, or load_sweep explains what's wrong


def _reusable(metrics_path: Path, best: Path, split: str, pred_thresh, data_fingerprint: str) -> dict | None:
    """The evaluation already written for this checkpoint, if made on the same data with the
    settings compare uses."""
    if not metrics_path.is_file() or metrics_path.stat().st_mtime < best.stat().st_mtime:
        return None
    try:
        results = json.loads(metrics_path.read_text())
    except ValueError:
        return None
    data = results.get("data") or {}
    same = (results.get("split") == split and results.get("pred_thresh") == pred_thresh
            and data.get("fingerprint") == data_fingerprint and "benchmark" in data
            and (metrics_path.parent / paired.FILE_NAME).is_file()
            and results.get("pr_thresholds") == PR_THRESHOLDS and results.get("ece_bins") == ECE_BINS
            and (results.get("rollouts") or {}).get("steps") == ROLLOUT_STEPS)
    return results if same else None


def evaluate_job(job_dir: Path, split: str, device: str, fingerprints: dict) -> tuple[dict, Path, bool]:
    """(results, metrics.json path, reused) for the best.pt of one job. `fingerprints` remembers
    the source fingerprint of each data config met, so a sweep's shared data is scanned once."""
    best = job_dir / "checkpoints" / "best.pt"
    if not best.is_file():
        raise DataError(f"{best}: missing; the job finished without writing a best checkpoint")
    out = job_dir / f"eval_{split}"
    config_path = job_dir / ".hydra" / "config.yaml"
    if config_path.is_file():
        job_cfg = OmegaConf.load(config_path)
        pred_thresh = OmegaConf.select(job_cfg, "metrics.pred_thresh")
        data_key = OmegaConf.to_yaml(job_cfg.data)
        if data_key not in fingerprints:
            fingerprints[data_key] = config_lib.build(job_cfg.data).source_fingerprint()
        results = _reusable(out / "metrics.json", best, split, pred_thresh, fingerprints[data_key])
        if results is not None:
            return results, out / "metrics.json", True
    results, out = evaluate(best, split=split, out_dir=out, device=device)
    return results, out / "metrics.json", False


def collect(root: Path, split: str = "test", device: str = "auto") -> tuple[list[Evaluated], list[Skipped]]:
    """Evaluate every finished job of the sweep(s) at `root`; the rest, and failed evaluations, skipped."""
    jobs = []
    for sweep_dir in find_sweeps(root):
        sweep = load_sweep(sweep_dir)
        jobs += [(str(job.path.relative_to(root)), job) for job in sweep.jobs]
    jobs.sort(key=lambda item: natural_key(item[0]))

    evaluated, skipped, fingerprints = [], [], {}
    for i, (name, job) in enumerate(jobs, start=1):
        if job.status not in FINISHED:
            skipped.append(Skipped(name, job.status, job.note))  # its error, or how to resume
            continue
        try:
            results, metrics_path, reused = evaluate_job(job.path, split, device, fingerprints)
        except EmberFormerError as err:  # one unusable checkpoint must not hide the others
            skipped.append(Skipped(name, job.status, f"not evaluated: {err}"))
            continue
        print(f"[{i}/{len(jobs)}] {name}: {'reused' if reused else 'wrote'} {metrics_path}", file=sys.stderr)
        evaluated.append(Evaluated(name, job.overrides, results, metrics_path, reused, job.seconds))
    return evaluated, skipped


# --------------------------------------------------------------------------------------------
# Grouping and statistics
# --------------------------------------------------------------------------------------------
def _metric(scores: dict, pixels: str, metric: str, threshold: str) -> float | None:
    view = scores[pixels]
    value = view[metric] if metric in ("ap", "ece") else view["at"][threshold][metric]
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def cell(values: list[float | None]) -> dict:
    """{mean, std, n, values}: sample std (n - 1) over the jobs that have the value; None below n = 2."""
    present = [v for v in values if v is not None]
    return {"mean": statistics.fmean(present) if present else None,
            "std": statistics.stdev(present) if len(present) > 1 else None,
            "n": len(present), "values": values}


def _fill(row: Row, group: list[Evaluated], model_key: str, threshold: str) -> Row:
    scores = [ev.results["models"][model_key] for ev in group]
    row.thresholds = [s["all"]["at"][threshold]["threshold"] for s in scores]
    row.cells = {key: cell([_metric(s, pixels, metric, threshold) for s in scores])
                 for key, _, pixels, metric in COLUMNS}
    # Rollouts are fed back at the val-best threshold, whichever operating point the table shows.
    leads = [ev.results["rollouts"]["models"][model_key] for ev in group]
    row.lead_times = {key: [cell([entries[i][pixels]["f1"] for entries in leads]) for i in range(len(leads[0]))]
                      for key, _, pixels in LEAD_TIME_SCORES}
    row.job_minutes = cell([None if ev.seconds is None or model_key == PERSISTENCE else ev.seconds / 60
                            for ev in group])
    return row


def _distinguishing_keys(evaluated: list[Evaluated]) -> dict[str, list[str]]:
    """Per model, the override keys (seed aside) whose value differs between its jobs."""
    by_model: dict[str, list[Evaluated]] = {}
    for ev in evaluated:
        by_model.setdefault(ev.model_key, []).append(ev)
    keys = {}
    for model, group in by_model.items():
        names = dict.fromkeys(k for ev in group for k in ev.overrides if k not in IGNORED_KEYS)
        keys[model] = [k for k in names if len({ev.overrides.get(k, "") for ev in group}) > 1]
    return keys


def group_rows(evaluated: list[Evaluated], threshold: str = "val_best", reference: str | None = None) -> list[Row]:
    """Per benchmark: one row per model (and per value of any other knob swept for it), then persistence;
    each row paired with the best other row (and `reference`, a row's label or its jobs' `model=`)."""
    rows, members = [], []
    # Every benchmark lists its models in one order: the order they first appear in.
    order = {description: i for i, description in enumerate(dict.fromkeys(ev.results["model"] for ev in evaluated))}
    descriptions = {ev.results["model"] for ev in evaluated if ev.model_key != PERSISTENCE}
    for benchmark, on_benchmark in _by_benchmark(evaluated).items():
        distinguishing = _distinguishing_keys(on_benchmark)
        groups: dict[tuple, list[Evaluated]] = {}
        for ev in on_benchmark:  # in job order: the rows follow the command line's model order
            knobs = tuple((k, ev.overrides.get(k, "")) for k in distinguishing[ev.model_key])
            groups.setdefault((ev.model_key, knobs), []).append(ev)
        # Jobs that trained persistence itself join the persistence row below.
        trained = dict(sorted(((key, group) for key, group in groups.items() if key[0] != PERSISTENCE),
                              key=lambda item: order[item[1][0].results["model"]]))
        for (model_key, knobs), group in trained.items():
            description = group[0].results["model"]
            short = description.split(" (")[0]
            # Two presets of one class (resnet18_unet, resnet18_unet_1day) go by their descriptions, everywhere.
            label = description if sum(d.split(" (")[0] == short for d in descriptions) > 1 else short
            shown = [f"{k}={v}" for k, v in knobs if k != "model" and v != ""]
            if shown:
                label += " [" + ", ".join(shown) + "]"
            row = Row(benchmark, label, description, [ev.name for ev in group], dict(knobs))
            rows.append(_fill(row, group, model_key, threshold))
            members.append((rows[-1], group, model_key))
        persistence = Row(benchmark, PERSISTENCE, "Persistence (last observed fire)", [ev.name for ev in on_benchmark])
        rows.append(_fill(persistence, on_benchmark, PERSISTENCE, threshold))
        members.append((rows[-1], on_benchmark, PERSISTENCE))
        _pair(members, reference)
        members.clear()
    return rows


def _per_fire(group: list[Evaluated], model_key: str) -> dict[str, dict[int, np.ndarray]]:
    """A row's per-fire arrays (paired.PAIRED_KEYS), each fire's averaged over the row's jobs that scored it."""
    tables = {}
    for name, (kind, view) in PAIRED_KEYS.items():
        found = [ev.per_sequence[kind].get(f"{model_key}/{view}") for ev in group]
        if all(table is not None for table in found):
            tables[name] = paired.average_over_jobs(found)
    return tables


def _pair(members: list[tuple[Row, list[Evaluated], str]], reference: str | None) -> None:
    """Each row of one benchmark against the best other row by newly burned AP, and the reference."""
    fires = {id(row): _per_fire(group, key) for row, group, key in members}

    def matches(row: Row, group: list[Evaluated], model_key: str) -> bool:
        # Persistence's row holds every job: only its label names it.
        models = () if model_key == PERSISTENCE else (ev.overrides.get("model") for ev in group)
        return reference in (row.label, *models)

    ranked = sorted(members, key=lambda m: -(m[0].cells["newly_burned_ap"]["mean"] or -1.0))
    for row, group, _ in members:
        others = [m for m in ranked if m[0] is not row]
        against = [others[0]] if others else []
        against += [m for m in others if reference and matches(*m) and m not in against]
        for other, _, _ in against:
            scores = {}
            for name, (kind, _) in PAIRED_KEYS.items():
                a, b = fires[id(row)].get(name), fires[id(other)].get(name)
                score = paired.average_precision if kind == "hist" else paired.f1
                scores[name] = None if a is None or b is None else paired.paired_difference(a, b, score)
            row.paired.append({"against": other.label, "best_other": other is others[0][0], **scores})


def _by_benchmark(evaluated: list[Evaluated]) -> dict[str, list[Evaluated]]:
    groups: dict[str, list[Evaluated]] = {}
    for ev in evaluated:
        groups.setdefault(ev.benchmark, []).append(ev)
    return groups


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------
def format_cell(entry: dict, digits: int = 3, with_n: bool = True) -> str:
    if entry["mean"] is None:
        return f"n/a ({entry['n']})" if with_n else "n/a"
    spread = "" if entry["std"] is None else f" ± {entry['std']:.{digits}f}"
    return f"{entry['mean']:.{digits}f}{spread}" + (f" ({entry['n']})" if with_n else "")


_PAIRED_NOTE = ("Paired over the test fires: each model against the best other one (by newly burned AP), and "
                "the `reference=` model; the difference on all fires shared, then its 95% interval from a "
                f"{paired.BOOTSTRAP_SAMPLES:,}-sample bootstrap over the fires (each fire's counts averaged over "
                "the seeds that scored it first), and the verdict: ahead / level / behind.")


def format_paired(entry: dict | None) -> str:
    if entry is None:
        return "n/a"
    return f"{entry['difference']:+.3f} [{entry['low']:+.3f}, {entry['high']:+.3f}] {entry['verdict']}"


def _data_line(evaluated: list[Evaluated]) -> str:
    seen = {(ev.results["samples"], tuple(ev.results["sequences"])) for ev in evaluated}
    if len(seen) == 1:
        samples, sequences = seen.pop()
        return f"{samples} samples from sequences {', '.join(map(str, sequences))}"
    counts = sorted({samples for samples, _ in seen})
    return f"the jobs' splits differ ({', '.join(map(str, counts))} samples): compare with care"


def _thresholds(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in dict.fromkeys(values))


def render_markdown(comparison: dict) -> str:
    if comparison["threshold"] == "val_best":
        point = "**val_best**, the threshold maximising F1 on val, found per model and job"
    else:
        used = [t for row in comparison["rows"] for t in row["thresholds"]]
        point = f"**pred_thresh** = {_thresholds(used)}, the jobs' metrics.pred_thresh"
    lines = [
        f"# Models against persistence on the {comparison['split']} split",
        "",
        (f"Threshold: {point}; it sets F1, precision, recall and IoU, while AP and ECE need none. Each cell: "
         "mean ± sample std over the jobs (n). \"newly burned\" scores only the pixels not burning in the last "
         "observed frame, which persistence never predicts. Rollouts: each model fed its own output (thresholded "
         "at its val-best threshold) from every origin of the split; a forecast `lead` steps ahead is scored "
         "against the recorded truth then, \"newly burned\" there meaning not burning at the forecast's origin."),
    ]
    for benchmark in comparison["benchmarks"]:
        rows = [row for row in comparison["rows"] if row["benchmark"] == benchmark["name"]]
        lines += ["", f"## Benchmark: {benchmark['name']}", "",
                  f"Data `{benchmark['root']}`; split: **{comparison['split']}** ({benchmark['data']}).", "",
                  "| model | " + " | ".join(header for _, header, _, _ in COLUMNS) + " | train min/job |",
                  "|---|" + "---|" * (len(COLUMNS) + 1)]
        for row in rows:
            cells = [format_cell(row["cells"][key]) for key, *_ in COLUMNS]
            minutes = format_cell(row["job_minutes"], digits=1, with_n=False) if row["job_minutes"]["n"] else "–"
            lines.append(f"| {row['label']} | " + " | ".join(cells) + f" | {minutes} |")
        leads = range(1, 1 + max(len(row["lead_times"]["f1"]) for row in rows))
        for key, title, _ in LEAD_TIME_SCORES:
            lines += ["", f"{title} by lead time (steps ahead, model fed its own output):", "",
                      "| model | " + " | ".join(str(lead) for lead in leads) + " |", "|---|" + "---|" * len(leads)]
            lines += [f"| {row['label']} | " + " | ".join(format_cell(c, with_n=False) for c in row["lead_times"][key])
                      + " |" for row in rows]
        lines += ["", _PAIRED_NOTE, "",
                  "| model | against | " + " | ".join(PAIRED_HEADERS.values()) + " |",
                  "|---|---|" + "---|" * len(PAIRED_HEADERS)]
        lines += [f"| {row['label']} | {pair['against']}{'' if pair['best_other'] else ' (reference)'} | "
                  + " | ".join(format_paired(pair[key]) for key in PAIRED_HEADERS) + " |"
                  for row in rows for pair in row["paired"]]
    lines += ["", "Jobs:"]
    for row in comparison["rows"]:
        lines.append(f"- {row['benchmark']}, {row['label']}: {row['model']}; jobs {', '.join(row['jobs'])}; "
                     f"thresholds {_thresholds(row['thresholds'])}")
    if comparison["skipped"]:
        lines += ["", "Not in the table (unfinished, failed or not evaluable):"]
        lines += [f"- {s['job']}: {s['status']}" + (f" ({s['reason']})" if s["reason"] else "")
                  for s in comparison["skipped"]]
    return "\n".join(lines) + "\n"


def plot_lead_times(comparison: dict, path: Path) -> None:
    """F1 and newly burned F1 against lead time, a line per model (mean, std as error bars), a row per benchmark."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state, works headless

    benchmarks = comparison["benchmarks"]
    fig = Figure(figsize=(11, 3.8 * len(benchmarks) + 0.6), layout="constrained")
    axes = fig.subplots(len(benchmarks), len(LEAD_TIME_SCORES), squeeze=False)
    for ax_row, benchmark in zip(axes, benchmarks, strict=True):
        rows = [row for row in comparison["rows"] if row["benchmark"] == benchmark["name"]]
        for ax, (key, title, _) in zip(ax_row, LEAD_TIME_SCORES, strict=True):
            for row in rows:
                cells = row["lead_times"][key]
                means = [c["mean"] for c in cells]
                errors = [c["std"] or 0.0 for c in cells]
                style = dict(color="black", linestyle="--") if row["label"] == PERSISTENCE else {}
                ax.errorbar(range(1, len(cells) + 1), means, yerr=errors, marker="o", markersize=3, capsize=2,
                            label=row["label"], **style)
            ax.set(title=f"{title}, {benchmark['name']}", xlabel="lead time (steps ahead)", ylabel=title,
                   ylim=(0, 1.02))
            ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    # As many legend columns as the longest label leaves room for (~150 characters at this size), so
    # an ablation's long label is not cut at the figure's edge.
    columns = max(1, min(4, len(labels), 150 // (max(map(len, labels)) + 6)))
    fig.legend(handles, labels, loc="outside lower center", ncols=columns, fontsize=8)
    fig.savefig(path, dpi=110)


def compare(sweep_dir, split: str = "test", threshold: str = "val_best", device: str = "auto",
            reference: str | None = None) -> tuple[dict, str]:
    """Evaluate, group and write comparison.md / comparison.json / lead_time.png into `sweep_dir`.
    Returns (comparison, markdown)."""
    if split not in SPLITS:
        raise ConfigError(f"split={split} must be one of {', '.join(SPLITS)}")
    if threshold not in OPERATING_POINTS:
        raise ConfigError(f"threshold={threshold} must be one of {', '.join(OPERATING_POINTS)}")
    root = Path(sweep_dir).expanduser()
    evaluated, skipped = collect(root, split, device)
    if not evaluated:
        states = ", ".join(sorted({s.status for s in skipped})) or "none"
        raise DataError(f"{root}: no finished job to compare (job states: {states}); wait for the sweep to "
                        f"finish, or see python -m emberformer.sweep {root}")
    comparison = {
        "sweep_dir": str(root),
        "split": split,
        "threshold": threshold,
        "benchmarks": [{"name": name, "root": group[0].results["data"]["root"], "data": _data_line(group)}
                       for name, group in _by_benchmark(evaluated).items()],
        "columns": [{"key": key, "header": header, "pixels": pixels, "metric": metric}
                    for key, header, pixels, metric in COLUMNS],
        "reference": reference,
        "rows": [vars(row) for row in group_rows(evaluated, threshold, reference)],
        "evaluations": {ev.name: {"metrics": str(ev.metrics_path), "reused": ev.reused} for ev in evaluated},
        "skipped": [{"job": s.name, "status": s.status, "reason": s.reason} for s in skipped],
    }
    markdown = render_markdown(comparison)
    try:
        (root / "comparison.json").write_text(json.dumps(comparison, indent=1) + "\n")
        (root / "comparison.md").write_text(markdown)
        plot_lead_times(comparison, root / "lead_time.png")
    except PermissionError as err:
        raise DataError(f"{err.filename}: not writable; copy the sweep dir somewhere writable and compare the copy"
                        ) from None
    return comparison, markdown


@dataclass
class Arguments:
    sweep_dir: str = ""         # a --multirun sweep dir, or a folder of sweeps
    split: str = "test"         # train | val | test
    threshold: str = "val_best"  # val_best | pred_thresh
    device: str = "auto"        # auto | cpu | cuda
    reference: str | None = None  # pair every model with this one too (a row label or a model= preset)


OPTIONS = [f.name for f in fields(Arguments) if f.name != "sweep_dir"]


def parse(argv: list[str]) -> DictConfig:
    """The sweep dir and the options."""
    args = parse_arguments(argv, Arguments, positional=("sweep_dir",), example=EXAMPLE)
    if not args.sweep_dir:
        raise ConfigError(f"the sweep dir is required; e.g. {EXAMPLE}")
    return args


def run(argv: list[str]) -> dict:
    args = parse(argv)
    comparison, markdown = compare(args.sweep_dir, **{key: args[key] for key in OPTIONS})
    print(markdown)
    print("wrote " + ", ".join(str(Path(comparison["sweep_dir"]) / name) for name in OUTPUT_FILES))
    return comparison


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict | None:
    return run_command(run, __doc__, argv)
