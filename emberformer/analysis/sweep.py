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

import csv
import math
import shlex
from dataclasses import dataclass
from pathlib import Path

from emberformer.analysis.runs import (
    EXTRA_VAL_METRICS,
    FAILED,
    RUNNING,
    Job,
    Sweep,
    finite_number,
    is_better,
    load_sweep,
)
from emberformer.cli import parse_arguments, run_command
from emberformer.errors import ConfigError, DataError, exit_on_user_error

MAX_GRID_VALUES = 12  # more distinct values on an axis (e.g. Optuna's continuous samples): scatter, not grid
MAX_LEGEND_ENTRIES = 12
EXAMPLE = "python -m emberformer.sweep outputs/multirun/2026-11-24/10-00-00"


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _short(value: str) -> str:
    """Optuna's samples (0.43728173...) at 4 significant digits; anything else as given."""
    number = finite_number(value)
    return f"{number:.4g}" if number is not None and len(value) > 8 else value


def _extra_metrics(sweep: Sweep) -> list[str]:
    names = [m for m in EXTRA_VAL_METRICS if f"val/{m}" != sweep.monitor]
    return [m for m in names if any(m in job.at_best for job in sweep.jobs)]


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
        row["note"] = job.note
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
    if all(finite_number(v) is not None for v in values):
        return sorted(values, key=float)
    return sorted(values)


def _best_by(jobs: list[Job], keys: list[str], mode: str) -> dict[tuple, float]:
    """Best value of the finished jobs per combination of `keys` (best over every other knob)."""
    best: dict[tuple, float] = {}
    for job in jobs:
        if job.finished:
            cell = tuple(job.overrides.get(k, "") for k in keys)
            if cell not in best or is_better(job.best_value, best[cell], mode):
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
                  if finite_number(x) is not None and finite_number(y) is not None]
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


@dataclass
class Arguments:
    sweep_dir: str = ""     # a --multirun sweep dir


def run(argv: list[str]) -> Sweep:
    args = parse_arguments(argv, Arguments, positional=("sweep_dir",), example=EXAMPLE)
    if not args.sweep_dir:
        raise ConfigError(f"the sweep dir is required; e.g. {EXAMPLE}")
    sweep, markdown, written = summarize(args.sweep_dir)
    print(markdown)
    print("wrote " + ", ".join(str(p) for p in written))
    return sweep


@exit_on_user_error
def main(argv: list[str] | None = None) -> Sweep | None:
    return run_command(run, __doc__, argv)
