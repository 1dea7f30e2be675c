"""Rank the jobs of a `--multirun` sweep: `python -m emberformer.sweep outputs/multirun/<date>/<time>`.

Reads every job folder of the sweep (`.hydra/overrides.yaml`, `result.json`, `metrics.jsonl`),
prints a ranked markdown table and writes, beside the jobs:

- `summary.md`, `summary.csv`: one row per job, best first; running jobs next, failed jobs last
  with their error;
- `heatmap.png`: the best monitored value (val/f1 by default) over the two swept knobs (a bar
  chart for one knob; with more, the two with the most distinct values, best over the rest);
- `curves.png`: the monitored value per epoch of every job.

Grid sweeps and Optuna sweeps (`hparams_search=optuna`, which add `optimization_results.yaml`)
read the same way, finished or still running.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from emberformer.errors import DataError, exit_on_user_error

FINISHED = ("completed", "early_stopped", "interrupted")
RUNNING = "running"
FAILED = "failed"
EXTRA_VAL_METRICS = ("f1", "prec", "rec", "iou", "loss")  # shown at the best epoch, beside the monitor
MAX_GRID_VALUES = 12  # more distinct values on an axis (e.g. Optuna's continuous samples): scatter, not grid
MAX_LEGEND_ENTRIES = 12


@dataclass
class Job:
    name: str                                   # job folder relative to the sweep dir: "0", "1", ...
    path: Path
    overrides: dict[str, str]                   # key -> value, as given on the command line
    status: str                                 # completed | early_stopped | interrupted | failed | running
    best_value: float | None = None             # so far, for a running job
    best_epoch: int | None = None
    epochs_run: int | None = None
    error: str | None = None
    last_update: float | None = None            # seconds since the job last wrote metrics.jsonl
    curve: list[tuple[int, float]] = field(default_factory=list)   # (epoch, monitored value)
    at_best: dict[str, float] = field(default_factory=dict)        # val metrics at best_epoch
    rank: int | None = None                     # 1 = best; finished jobs only

    @property
    def finished(self) -> bool:
        return self.status in FINISHED and self.best_value is not None


@dataclass
class Sweep:
    path: Path
    jobs: list[Job]                             # ranked: finished best first, then running, then failed
    monitor: str                                # e.g. "val/f1"
    mode: str                                   # "max" | "min"
    swept: list[str]                            # override keys whose value varies between jobs
    fixed: dict[str, str]                       # overrides shared by every job
    planned: int | None = None                  # jobs the sweep launches in all, where its configs tell
    optuna: dict | None = None                  # optimization_results.yaml of an Optuna sweep

    @property
    def best(self) -> Job | None:
        return next((job for job in self.jobs if job.rank == 1), None)


# --------------------------------------------------------------------------------------------
# Reading a sweep
# --------------------------------------------------------------------------------------------
SWEEP_FILES = ("multirun.yaml", "optimization_results.yaml")  # written by the basic / Optuna sweeper


def _is_multirun_job(folder: Path) -> bool:
    try:
        hydra_cfg = OmegaConf.load(folder / ".hydra" / "hydra.yaml").get("hydra") or {}
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return False
    return (folder / ".hydra" / "overrides.yaml").is_file() and hydra_cfg.get("mode") == "MULTIRUN"


def _job_dirs(root: Path) -> list[Path]:
    """The job folders of the sweep at `root`, in job order.

    Hydra names them hydra.sweep.subdir (the job number by default; a subdir with slashes nests
    them), so the walk goes on below folders that are neither jobs nor sweeps of their own.
    """
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        here = Path(dirpath)
        if here != root and ((here / ".hydra").is_dir() or any((here / f).is_file() for f in SWEEP_FILES)):
            if _is_multirun_job(here):
                found.append(here)
            dirnames.clear()  # a job's checkpoints/ and wandb/ need no walk; nor does a run or sweep of its own
        else:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # .submitit/ etc.
    return sorted(found, key=lambda p: _natural_key(str(p.relative_to(root))))


def _natural_key(name: str) -> tuple:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in Path(name).parts)


def _read_overrides(job_dir: Path) -> dict[str, str]:
    lines = OmegaConf.to_container(OmegaConf.load(job_dir / ".hydra" / "overrides.yaml")) or []
    # Keys never contain '=' (values may): the first '=' splits them.
    return dict(str(line).partition("=")[::2] for line in lines)


def _read_epochs(job_dir: Path) -> dict[int, dict]:
    """Epoch-level records of metrics.jsonl by epoch (a resumed run's repeat of an epoch wins)."""
    epochs: dict[int, dict] = {}
    try:
        lines = (job_dir / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return epochs
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the line a running job is writing right now
        if isinstance(record, dict) and "epoch" in record:
            epochs[int(record["epoch"])] = record
    return epochs


def _number(value) -> float | None:
    """A metric as float; the logger writes non-finite values as strings ("nan", "inf")."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _is_better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def _read_job(root: Path, job_dir: Path, monitor: str, mode: str) -> Job:
    job = Job(name=str(job_dir.relative_to(root)), path=job_dir, overrides=_read_overrides(job_dir), status=RUNNING)
    epochs = _read_epochs(job_dir)
    activity = job_dir / "metrics.jsonl" if (job_dir / "metrics.jsonl").is_file() else job_dir / ".hydra"
    job.last_update = time.time() - activity.stat().st_mtime
    key = f"{monitor}_epoch"
    job.curve = [(e, v) for e, rec in sorted(epochs.items()) if (v := _number(rec.get(key))) is not None]
    job.epochs_run = max(epochs, default=None)

    result_path = job_dir / "result.json"
    if result_path.is_file():
        try:
            result = json.loads(result_path.read_text())
            job.status = str(result["status"])
        except (ValueError, KeyError, TypeError) as err:
            result = {}
            job.status, job.error = FAILED, f"unreadable result.json ({type(err).__name__}: {err})"
        job.error = result.get("error", job.error)
        job.best_value = _number(result.get("best_value"))
        job.best_epoch = result.get("best_epoch")
        job.epochs_run = result.get("stop_epoch", job.epochs_run)
    elif job.curve:  # running: the best so far
        best = job.curve[0]
        for point in job.curve[1:]:
            if _is_better(point[1], best[1], mode):
                best = point
        job.best_epoch, job.best_value = best

    record = epochs.get(job.best_epoch, {}) if job.best_epoch is not None else {}
    job.at_best = {m: v for m in EXTRA_VAL_METRICS if (v := _number(record.get(f"val/{m}_epoch"))) is not None}
    return job


def _monitor_and_mode(job_dirs: list[Path]) -> tuple[str, str]:
    """What the jobs early-stop on (and so are ranked by), from the first job's composed config."""
    for job_dir in job_dirs:
        config_path = job_dir / ".hydra" / "config.yaml"
        if config_path.is_file():
            es = OmegaConf.load(config_path).get("early_stopping") or {}
            return str(es.get("monitor", "val/f1")), str(es.get("mode", "max"))
    return "val/f1", "max"


def _multirun_plan(root: Path, first_job: Path) -> tuple[set[str], int | None]:
    """The swept keys and the number of jobs the sweep launches, as far as its configs tell.

    The basic sweeper saves the whole sweep to multirun.yaml; Optuna doesn't, but every job's
    .hydra/hydra.yaml holds its search space and n_trials. Knowing the knobs up front names them
    while only one job has started. The count is None where it can't be told (e.g. glob() sweeps).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    grid_file = root / "multirun.yaml"
    source = grid_file if grid_file.is_file() else first_job / ".hydra" / "hydra.yaml"
    try:
        hydra_node = OmegaConf.load(source).get("hydra")
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return set(), None
    if hydra_node is None:
        return set(), None
    hydra_cfg = OmegaConf.to_container(hydra_node, resolve=False)
    sweeper = hydra_cfg.get("sweeper") or {}
    # The sweeper's params, then the command line, which wins per key (as in Hydra's sweepers).
    arguments = {k: f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()}
    if source == grid_file:  # a job's own hydra.yaml has the job's values here, not the sweep's
        for line in (hydra_cfg.get("overrides") or {}).get("task") or []:
            arguments[line.partition("=")[0]] = line
    try:
        sweeps = [o for o in OverridesParser.create().parse_overrides(list(arguments.values()))
                  if o.is_sweep_override()]
    except HydraException:
        return set(), None
    keys = {o.get_key_element() for o in sweeps}
    if "n_trials" in sweeper:  # Optuna: intervals are sampled, not enumerated
        return keys, int(sweeper["n_trials"])
    if source != grid_file:
        return keys, None
    try:
        return keys, math.prod(len(list(o.sweep_string_iterator())) for o in sweeps)
    except (HydraException, ValueError, TypeError):
        return keys, None


def _rank(jobs: list[Job], mode: str) -> list[Job]:
    finished = [j for j in jobs if j.finished]
    finished.sort(key=lambda j: (-j.best_value if mode == "max" else j.best_value, _natural_key(j.name)))
    for i, job in enumerate(finished, start=1):
        job.rank = i
    running = [j for j in jobs if j.status == RUNNING]
    # Failed jobs, and finished jobs that never recorded a value, go last.
    rest = [j for j in jobs if not j.finished and j.status != RUNNING]
    return finished + running + rest


def load_sweep(sweep_dir: str | Path) -> Sweep:
    """Read every job of a sweep dir. DataError when it is missing or holds no jobs."""
    root = Path(sweep_dir).expanduser()
    example = "e.g. python -m emberformer.sweep outputs/multirun/2026-11-24/10-00-00"
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; pass the sweep dir of a --multirun run ({example})")
    if (root / ".hydra").is_dir():
        raise DataError(f"{root} is a single run, not a sweep; pass the sweep dir of a --multirun run ({example})")
    job_dirs = _job_dirs(root)
    if not any((root / f).is_file() for f in SWEEP_FILES) and not any(d.parent == root for d in job_dirs):
        # A folder of sweeps (outputs/multirun/<date>) has their multirun.yaml one level down.
        sweeps = sorted(str(p.parent) for p in root.glob("*/multirun.yaml"))
        hint = f"pass one of the sweeps in it: {', '.join(sweeps[-3:])}" if sweeps else example
        raise DataError(f"{root} is not the sweep dir of a --multirun run ({hint})")
    if not job_dirs:
        raise DataError(f"{root}: no job has started yet (no <job>/.hydra/overrides.yaml); run this again later")

    monitor, mode = _monitor_and_mode(job_dirs)
    jobs = [_read_job(root, d, monitor, mode) for d in job_dirs]

    sweep_keys, planned = _multirun_plan(root, job_dirs[0])
    keys = list(dict.fromkeys(k for job in jobs for k in job.overrides))
    swept = [k for k in keys if k in sweep_keys or len({job.overrides.get(k) for job in jobs}) > 1]
    fixed = {k: jobs[0].overrides[k] for k in keys if k not in swept and k in jobs[0].overrides}

    optuna_path = root / "optimization_results.yaml"
    optuna = OmegaConf.to_container(OmegaConf.load(optuna_path)) if optuna_path.is_file() else None
    return Sweep(root, _rank(jobs, mode), monitor, mode, swept, fixed, planned, optuna)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _short(value: str) -> str:
    """Optuna's samples (0.43728173...) at 4 significant digits; anything else as given."""
    number = _number(value)
    return f"{number:.4g}" if number is not None and len(value) > 8 else value


def _extra_metrics(sweep: Sweep) -> list[str]:
    names = [m for m in EXTRA_VAL_METRICS if f"val/{m}" != sweep.monitor]
    return [m for m in names if any(m in job.at_best for job in sweep.jobs)]


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return "just now"


def _note(job: Job) -> str:
    if job.status == RUNNING:
        # A job of a sweep that was killed never writes result.json: its age tells it apart.
        progress = "best so far" if job.best_value is not None else "no epoch finished yet"
        return f"running: {progress}, last update {_ago(job.last_update)}"
    if job.status == "interrupted":
        return f"interrupted: resume with train.resume={job.path / 'checkpoints' / 'last.pt'}"
    return job.error or ""


def rows(sweep: Sweep) -> list[dict[str, str]]:
    """One dict per job, ranked; the columns of summary.csv."""
    extras = _extra_metrics(sweep)
    table = []
    for job in sweep.jobs:
        row = {"rank": "" if job.rank is None else str(job.rank), "job": job.name}
        row.update({key: job.overrides.get(key, "") for key in sweep.swept})
        row.update({"status": job.status, f"best {sweep.monitor}": _fmt(job.best_value),
                    "best epoch": "" if job.best_epoch is None else str(job.best_epoch),
                    "epochs": "" if job.epochs_run is None else str(job.epochs_run)})
        row.update({f"val/{m} @best": _fmt(job.at_best.get(m)) for m in extras})
        row["note"] = _note(job)
        table.append(row)
    return table


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(sweep: Sweep) -> str:
    table = rows(sweep)
    swept = set(sweep.swept)
    counts: dict[str, int] = {}
    for job in sweep.jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
    tally = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items())
    waiting = (sweep.planned or 0) - len(sweep.jobs)
    lines = [f"# Sweep {sweep.path}", "",
             f"{len(sweep.jobs)} jobs ({tally})" + (f", {waiting} not started yet" if waiting > 0 else "")
             + f"; ranked by best {sweep.monitor} ({sweep.mode}).  "]
    if sweep.swept:
        lines.append(f"Swept: {', '.join(sweep.swept)}.  ")
    if sweep.fixed:
        lines.append("Fixed: " + " ".join(f"`{k}={v}`" for k, v in sweep.fixed.items()) + ".")
    lines.append("")
    header = list(table[0])
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---:" if h in ("rank", "epochs", "best epoch") or h.startswith(("best ", "val/"))
                                else "---" for h in header) + "|")
    for row in table:
        cells = [_short(v) if k in swept else v for k, v in row.items()]
        lines.append("| " + " | ".join(_markdown_cell(c) for c in cells) + " |")

    best = sweep.best
    if best is not None:
        rerun = " ".join(shlex.quote(f"{k}={v}") for k, v in best.overrides.items())
        lines += ["", f"Best: job {best.name}, {sweep.monitor} = {best.best_value:.4f} at epoch {best.best_epoch} "
                      f"({best.path / 'checkpoints' / 'best.pt'}).  ",
                  f"Rerun it: `python -m emberformer.train {rerun}`"]
    if sweep.optuna is not None and "best_params" in sweep.optuna:
        params = " ".join(f"{k}={_short(str(v))}" for k, v in sweep.optuna["best_params"].items())
        best_value = sweep.optuna["best_value"]
        lines += ["", f"Optuna (optimization_results.yaml): best value {best_value:.4f} with `{params}`"]
    return "\n".join(lines) + "\n"


def write_csv(sweep: Sweep, path: Path) -> None:
    table = rows(sweep)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*table[0], "overrides", "run_dir"])
        writer.writeheader()
        for job, row in zip(sweep.jobs, table):
            writer.writerow({**row, "overrides": " ".join(f"{k}={v}" for k, v in job.overrides.items()),
                             "run_dir": str(job.path)})


# --------------------------------------------------------------------------------------------
# Figures (matplotlib's object API on the Agg canvas: no pyplot state, no display needed)
# --------------------------------------------------------------------------------------------
def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _sorted_values(values) -> list[str]:
    values = list(dict.fromkeys(values))
    if all(_number(v) is not None for v in values):
        return sorted(values, key=float)
    return sorted(values)


def _best_by(jobs: list[Job], keys: list[str], mode: str) -> dict[tuple, float]:
    """Best value of the finished jobs per combination of `keys` (best over every other knob)."""
    best: dict[tuple, float] = {}
    for job in jobs:
        if job.finished:
            cell = tuple(job.overrides.get(k, "") for k in keys)
            if cell not in best or _is_better(job.best_value, best[cell], mode):
                best[cell] = job.best_value
    return best


def _cell_state(jobs: list[Job], keys: list[str], cell: tuple) -> str:
    states = {j.status for j in jobs if tuple(j.overrides.get(k, "") for k in keys) == cell}
    return RUNNING if RUNNING in states else FAILED if states else ""


def heatmap_knobs(sweep: Sweep) -> list[str]:
    """The (at most) two swept keys the heatmap shows: those with the most distinct values."""
    distinct = {k: len({j.overrides.get(k) for j in sweep.jobs}) for k in sweep.swept}
    return sorted(sweep.swept, key=lambda k: -distinct[k])[:2]  # stable: ties keep the command-line order


def plot_heatmap(sweep: Sweep, path: Path) -> bool:
    """Best monitored value over the swept knobs; False (nothing written) without knobs or finished jobs."""
    import matplotlib
    from matplotlib.colors import Normalize

    knobs = heatmap_knobs(sweep)
    best = _best_by(sweep.jobs, knobs, sweep.mode)
    if not knobs or not best:
        return False
    cmap = matplotlib.colormaps["viridis" if sweep.mode == "max" else "viridis_r"]  # the best is brightest
    norm = Normalize(min(best.values()), max(best.values()))
    others = [k for k in sweep.swept if k not in knobs]
    title = f"best {sweep.monitor}" + (f" (best over {', '.join(others)})" if others else "")
    values = [_sorted_values(j.overrides.get(k, "") for j in sweep.jobs) for k in knobs]

    def label(cell: tuple) -> str:
        return f"{best[cell]:.3f}" if cell in best else _cell_state(sweep.jobs, knobs, cell)

    if len(knobs) == 1:
        cells = [(v,) for v in values[0]]
        fig = _figure(max(4.0, 0.7 * len(cells) + 2), 3.8)
        ax = fig.add_subplot()
        bars = ax.bar([_short(v) for v in values[0]], [best.get(c, 0.0) for c in cells],
                      color=[cmap(norm(best[c])) if c in best else "0.85" for c in cells])
        ax.bar_label(bars, labels=[label(c) for c in cells], fontsize=8)
        ax.set_ylabel(sweep.monitor)
        ax.margins(y=0.15)
    elif max(len(v) for v in values) <= MAX_GRID_VALUES:
        xs, ys = values
        fig = _figure(max(4.5, 0.9 * len(xs) + 2.5), max(3.5, 0.6 * len(ys) + 1.8))
        ax = fig.add_subplot()
        grid = [[best.get((x, y), math.nan) for x in xs] for y in ys]
        image = ax.imshow(grid, cmap=cmap, norm=norm, origin="lower", aspect="auto")
        ax.set_xticks(range(len(xs)), [_short(v) for v in xs])
        ax.set_yticks(range(len(ys)), [_short(v) for v in ys])
        for iy, y in enumerate(ys):
            for ix, x in enumerate(xs):
                # Dark text on viridis' bright end (and on empty cells), white on its dark end.
                dark = (x, y) not in best or sum(cmap(norm(best[(x, y)]))[:3]) > 1.5
                ax.text(ix, iy, label((x, y)), ha="center", va="center", fontsize=8,
                        color="black" if dark else "white")
        fig.colorbar(image, ax=ax, label=sweep.monitor)
    else:  # continuous samples (Optuna): one dot per job
        fig = _figure(6.0, 4.5)
        ax = fig.add_subplot()
        points = [(float(x), float(y), v) for (x, y), v in best.items()
                  if _number(x) is not None and _number(y) is not None]
        image = ax.scatter([p[0] for p in points], [p[1] for p in points], c=[p[2] for p in points],
                           cmap=cmap, norm=norm, s=60, edgecolors="black", linewidths=0.5)
        for axis, coords in (("x", [p[0] for p in points]), ("y", [p[1] for p in points])):
            if coords and min(coords) > 0 and max(coords) / min(coords) >= 20:  # e.g. learning rates
                (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        fig.colorbar(image, ax=ax, label=sweep.monitor)
    ax.set_xlabel(knobs[0])
    if len(knobs) == 2:
        ax.set_ylabel(knobs[1])
    ax.set_title(title, fontsize=10)
    fig.savefig(path, dpi=120)
    return True


def _label(job: Job, swept: list[str]) -> str:
    knobs = ", ".join(f"{k.rsplit('.', 1)[-1]}={_short(job.overrides.get(k, ''))}" for k in swept)
    label = f"{job.name}: {knobs}" if knobs else job.name
    return label if len(label) <= 60 else label[:59] + "…"


def plot_curves(sweep: Sweep, path: Path) -> bool:
    """The monitored value per epoch of every job in one figure; False when no job has an epoch yet."""
    from matplotlib.ticker import MaxNLocator

    jobs = [j for j in sweep.jobs if j.curve]
    if not jobs:
        return False
    fig = _figure(8.0, 4.8)
    ax = fig.add_subplot()
    for i, job in enumerate(jobs):
        epochs, values = zip(*job.curve)
        labelled = i < MAX_LEGEND_ENTRIES  # jobs are ranked: the legend names the best ones
        style = {"running": "--", FAILED: ":"}.get(job.status, "-")
        width = 2.4 if job.rank == 1 else 1.2
        line, = ax.plot(epochs, values, style, linewidth=width, marker="." if len(epochs) < 30 else None,
                        color=None if labelled else "0.7", label=_label(job, sweep.swept) if labelled else None)
        if job.best_epoch in epochs:
            ax.plot([job.best_epoch], [job.best_value], "*", color=line.get_color(), markersize=9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    first, last = min(j.curve[0][0] for j in jobs), max(j.curve[-1][0] for j in jobs)
    ax.set_xlim(first - 0.5, last + 0.5)
    ax.set_xlabel("epoch")
    ax.set_ylabel(sweep.monitor)
    ax.set_title(f"{sweep.monitor} per epoch ({len(jobs)} jobs; * best epoch, -- running, : failed)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5),
              title="job (ranked)" if len(jobs) <= MAX_LEGEND_ENTRIES else f"top {MAX_LEGEND_ENTRIES}",
              title_fontsize=8)
    fig.savefig(path, dpi=120)
    return True


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------
def summarize(sweep_dir: str | Path) -> tuple[Sweep, str, list[Path]]:
    """Read a sweep and write summary.md, summary.csv, heatmap.png, curves.png beside its jobs.

    Returns the sweep, the markdown and the files written (a figure with nothing to show is skipped).
    """
    sweep = load_sweep(sweep_dir)
    markdown = render_markdown(sweep)
    outputs = {name: sweep.path / name for name in ("summary.md", "summary.csv", "heatmap.png", "curves.png")}
    try:
        outputs["summary.md"].write_text(markdown)
        write_csv(sweep, outputs["summary.csv"])
        written = [outputs["summary.md"], outputs["summary.csv"]]
        for name, plot in (("heatmap.png", plot_heatmap), ("curves.png", plot_curves)):
            if plot(sweep, outputs[name]):
                written.append(outputs[name])
            else:  # nothing to show (yet): no figure from an earlier summary left behind
                outputs[name].unlink(missing_ok=True)
    except PermissionError as err:
        raise DataError(f"{err.filename}: not writable; copy the sweep dir somewhere writable and summarise "
                        f"the copy") from None
    return sweep, markdown, written


@exit_on_user_error
def main(argv: list[str] | None = None) -> Sweep:
    parser = argparse.ArgumentParser(prog="python -m emberformer.sweep", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", help="a --multirun sweep dir, e.g. outputs/multirun/2026-11-24/10-00-00")
    args = parser.parse_args(argv)
    sweep, markdown, written = summarize(args.sweep_dir)
    print(markdown)
    print("wrote " + ", ".join(str(p) for p in written))
    return sweep


if __name__ == "__main__":
    main()
