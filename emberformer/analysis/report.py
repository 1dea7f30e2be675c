"""A self-contained HTML report of a training run, offline, from its folder alone:
`python -m emberformer.report outputs/<date>/<time> [--out report.html]`.

The dashboard's six panels (`emberformer.analysis.panels.PANELS`) drawn from `metrics.jsonl`
(or, when that is missing, from the run's offline W&B records read with `wandb leet inspect
--json`), the latest validation previews, `result.json`, the resolved config, and any
`eval_*`/`forecast_*` results beside them. Images are embedded as data URIs: one file, no
network, no scripts.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from emberformer.analysis.panels import PANELS, PanelSpec
from emberformer.analysis.runs import read_metrics_jsonl
from emberformer.analysis.tables import history_rows, rollout_rows, score_table_rows, summary_rows
from emberformer.cli import parse_arguments, run_command
from emberformer.errors import ConfigError, DataError, exit_on_user_error
from emberformer.viz import PREVIEW_LEGEND

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")
EXAMPLE = "python -m emberformer.report outputs/2026-11-24/10-00-00 --out report.html"


# --------------------------------------------------------------------------------------------
# Reading the run folder
# --------------------------------------------------------------------------------------------
def _number(value) -> float | None:
    """Logged scalars as floats; non-finite values arrive as strings ("nan", "NaN", "Infinity")."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def wandb_run_files(run_dir: Path) -> list[Path]:
    """The run's W&B transaction logs (a resumed run has several), oldest first."""
    return sorted((run_dir / "wandb").glob("*run-*/run-*.wandb"), key=lambda p: p.parent.name)


def read_wandb_records(files: list[Path]) -> tuple[list[dict], dict]:
    """(history rows as {"step": n, key: value}, config) from W&B transaction logs, via
    `wandb leet inspect --json` (the format of .wandb files is W&B's own, read by its own tool)."""
    cli = shutil.which("wandb", path=str(Path(sys.executable).parent)) or shutil.which("wandb")
    if cli is None:
        raise DataError("reading the W&B run needs the `wandb` command (pip install wandb>=0.31)")
    records, config = [], {}
    for path in files:
        proc = subprocess.run([cli, "leet", "inspect", "--json", str(path)], capture_output=True, text=True,
                              timeout=300)
        if proc.returncode != 0:
            raise DataError(f"{path}: `wandb leet inspect` failed ({proc.stderr.strip()[-200:]}); "
                            f"needs wandb>=0.31, or write metrics.jsonl by training with this package")
        for line in proc.stdout.splitlines():
            record = json.loads(line)
            kind = record.get("type")
            if kind == "history":
                item = record["history"]["item"]
                step = record["history"].get("step", {}).get("num", item.get("_step"))
                # Media arrive as "key.filenames", "key._type", ...: keep scalars only.
                scalars = {k: v for k, v in item.items() if not k.startswith("_") and "." not in k}
                records.append({"step": step, **scalars})
            elif kind == "run":
                config.update((record["run"].get("config") or {}).get("update", {}))
            elif kind == "config":
                config.update(record["config"].get("update", {}))
    config.pop("_wandb", None)
    return records, config


def load_history(run_dir: Path) -> tuple[list[dict], str]:
    """(records, where they came from): metrics.jsonl, else the W&B offline run."""
    jsonl = run_dir / "metrics.jsonl"
    if jsonl.is_file():
        records = read_metrics_jsonl(jsonl)
        if records:
            return records, "metrics.jsonl"
    files = wandb_run_files(run_dir)
    if files:
        records, _ = read_wandb_records(files)
        if records:
            return records, f"W&B run records ({', '.join(p.parent.name for p in files)})"
    raise DataError(f"{run_dir} has no metrics: neither metrics.jsonl nor wandb/*run-*/run-*.wandb holds any "
                    f"record; pass a run folder written by emberformer.train (outputs/<date>/<time>)")


def load_config(run_dir: Path) -> tuple[str, str]:
    """(YAML text, source) of the run's config: the resolved one a checkpoint stores, else the
    composed `.hydra/config.yaml`, else the W&B run's."""
    from omegaconf import OmegaConf

    for name in ("last.pt", "best.pt"):
        path = run_dir / "checkpoints" / name
        if path.is_file():
            import torch

            try:  # mmap: read the pickled config without loading the weights
                state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
                return OmegaConf.to_yaml(OmegaConf.create(state["config"])), f"resolved, from checkpoints/{name}"
            except Exception:  # noqa: BLE001 — a corrupt checkpoint only costs this section its best source
                continue
    composed = run_dir / ".hydra" / "config.yaml"
    if composed.is_file():
        return composed.read_text(), "as composed, from .hydra/config.yaml (interpolations unresolved)"
    files = wandb_run_files(run_dir)
    if files:
        config = read_wandb_records(files)[1]
        if config:
            return OmegaConf.to_yaml(OmegaConf.create(config)), "from the W&B run"
    return "", "not recorded"


def _newest_group(paths, pattern: str) -> tuple[int, list[Path]] | None:
    """Group files by the number `pattern` captures first; return the highest number and its files."""
    groups: dict[int, list[Path]] = {}
    for path in paths:
        match = re.match(pattern, path.name)
        if match:
            groups.setdefault(int(match[1]), []).append(path)
    if not groups:
        return None
    newest = max(groups)
    return newest, groups[newest]


def latest_previews(run_dir: Path) -> tuple[list[Path], str]:
    """The last epoch's `val/preview` images: previews/epoch_NNN_i.png, else the W&B run's media."""
    found = _newest_group((run_dir / "previews").glob("epoch_*_*.png"), r"epoch_(\d+)_(\d+)\.png$")
    if found:
        epoch, paths = found
        return sorted(paths, key=lambda p: int(p.stem.rsplit("_", 1)[1])), f"epoch {epoch}"
    found = _newest_group((run_dir / "wandb").glob("*run-*/files/media/images/val/preview_*.png"),
                          r"preview_(\d+)_")
    if found:
        step, paths = found
        return sorted(paths), f"step {step} (W&B media)"
    return [], ""


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def smooth(values: list[float], weight: float) -> list[float]:
    """W&B's "exponential" smoothing: a debiased exponential moving average (so the first points
    aren't dragged towards 0)."""
    out, average = [], 0.0
    for i, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight**i))
    return out


def panel_series(spec: PanelSpec, records: list[dict]) -> dict[str, tuple[list[float], list[float]]]:
    """{key: (x, y)} of a line panel; x is the record's epoch or step, the last value per x wins."""
    series = {}
    for key in spec.keys_in(records):
        points: dict[float, float] = {}
        for record in records:
            y, x = _number(record.get(key)), _number(record.get(spec.x))
            if y is not None and x is not None and math.isfinite(y):
                points[x] = y
        if points:
            xs = sorted(points)
            series[key] = (xs, [points[x] for x in xs])
    return series


def panel_png(spec: PanelSpec, records: list[dict]) -> bytes:
    from matplotlib.figure import Figure  # no pyplot: no global backend state, works headless

    fig = Figure(figsize=(5.2, 3.4), layout="constrained")
    ax = fig.subplots()
    series = panel_series(spec, records)
    for (key, (xs, ys)), color in zip(series.items(), COLORS, strict=False):
        if spec.smoothing and len(ys) > 1:
            ax.plot(xs, ys, color=color, alpha=0.25, linewidth=1)
            ax.plot(xs, smooth(ys, spec.smoothing), color=color, label=key)
        else:
            ax.plot(xs, ys, color=color, label=key, marker="o" if len(xs) < 30 else None, markersize=3)
    missing = [k for k in spec.keys_in(records) if k not in series] or ([] if series else [spec.label()])
    if missing:
        ax.text(0.5, 0.5 if not series else 0.04, f"not logged: {', '.join(missing)}", transform=ax.transAxes,
                ha="center", va="center" if not series else "bottom", fontsize=8, color="0.4")
    if spec.log_y and series and all(v > 0 for _, ys in series.values() for v in ys):
        ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)  # epochs and steps are whole numbers
    title = spec.title + (f" (smoothing {spec.smoothing:g})" if spec.smoothing else "")
    ax.set(title=title, xlabel=spec.x)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------
def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _img(data: bytes, alt: str, mime: str = "image/png") -> str:
    return f'<img src="{data_uri(data, mime)}" alt="{html.escape(alt)}">'


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _flatten(tree: dict, prefix: str = "") -> list[tuple[str, object]]:
    items = []
    for key, value in tree.items():
        if isinstance(value, dict):
            items += _flatten(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", f"{value:.4f}" if isinstance(value, float) else value))
    return items


def result_section(run_dir: Path) -> str:
    path = run_dir / "result.json"
    if not path.is_file():
        return "<p>No result.json (the run is still going, or was killed before its end).</p>"
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError:
        return "<p>result.json is unreadable.</p>"
    return _table(["field", "value"], _flatten(result))


def evaluation_sections(run_dir: Path) -> list[str]:
    """`eval_*/metrics.json` (emberformer.evaluate) and `forecast_*/forecast.json` (emberformer.predict)."""
    sections = []
    evaluations = sorted(run_dir.glob("eval_*/metrics.json"))
    forecasts = sorted(run_dir.glob("forecast_*/forecast.json"))
    for path in evaluations:
        results = json.loads(path.read_text())
        figures = "".join(_img((path.parent / name).read_bytes(), name)
                          for name in ("pr_curve.png", "f1_by_history.png") if (path.parent / name).is_file())
        sections.append(
            f"<h3>{html.escape(path.parent.name)}: {html.escape(results['split'])} split, "
            f"{results['samples']} samples</h3>{_table(*summary_rows(results))}"
            f"<h4>By history length T</h4>{_table(*history_rows(results))}"
            + (f"<h4>Rollouts by lead time (fed its own output)</h4>{_table(*rollout_rows(results))}"
               if results.get("rollouts") else "")
            + f"<div class='grid'>{figures}</div>")
    for path in forecasts:
        report = json.loads(path.read_text())
        gif = path.parent / "forecast.gif"
        animation = _img(gif.read_bytes(), "forecast", "image/gif") if gif.is_file() else ""
        sections.append(
            f"<h3>{html.escape(path.parent.name)}: sequence {report['sequence']} ({html.escape(report['split'])}), "
            f"k={report['k']}, mode={html.escape(report['mode'])}</h3>"
            f"<div class='grid'><div>{_table(*score_table_rows(report))}</div><div>{animation}</div></div>")
    return sections


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.grid img { max-width: 100%; border: 1px solid #ddd; }
figure { margin: 0; } figcaption { font-size: .85em; color: #555; }
table { border-collapse: collapse; font-size: .9em; margin: .5em 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f3f3f3; } pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: .85em; }
.note { color: #666; font-size: .9em; }
"""


def build_report(run_dir, out=None) -> Path:
    """Write the run's HTML report (default `<run dir>/report.html`) and return its path."""
    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        raise DataError(f"run folder {run_dir} does not exist; pass an outputs/<date>/<time> folder of a training run")
    records, source = load_history(run_dir)
    config_text, config_source = load_config(run_dir)
    previews, preview_when = latest_previews(run_dir)

    curves, media = [], []
    for spec in PANELS:
        if spec.kind == "media":
            figures = "".join(f"<figure>{_img(p.read_bytes(), p.name)}<figcaption>{html.escape(p.name)}</figcaption>"
                              f"</figure>" for p in previews)
            media.append(f"<h3>{html.escape(spec.title)}: {html.escape(spec.label())}"
                         f"{' (' + html.escape(preview_when) + ')' if preview_when else ''}</h3>"
                         f"<p class='note'>{html.escape(PREVIEW_LEGEND)}</p>"
                         f"<div class='grid'>{figures or '<p>No previews saved.</p>'}</div>")
        else:
            curves.append(_img(panel_png(spec, records), spec.title))
    epochs = sorted({int(e) for r in records if (e := _number(r.get("epoch"))) is not None})
    extra = evaluation_sections(run_dir)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>EmberFormer run {html.escape(run_dir.name)}</title>
<style>{STYLE}</style></head><body>
<h1>EmberFormer run <code>{html.escape(str(run_dir))}</code></h1>
<p class="note">{len(records)} records from {html.escape(source)}; {len(epochs)} epochs.
Panels as in the W&amp;B dashboard (python -m emberformer.dashboard).</p>
<h2>Summary (result.json)</h2>{result_section(run_dir)}
<h2>Training curves</h2><div class="grid">{''.join(curves)}</div>
{''.join(media)}
{'<h2>Evaluations and forecasts</h2>' + ''.join(extra) if extra else ''}
<h2>Config <span class="note">({html.escape(config_source)})</span></h2><pre>{html.escape(config_text)}</pre>
</body></html>
"""
    target = Path(out) if out else run_dir / "report.html"
    target.write_text(page)
    return target


@dataclass
class Arguments:
    run_dir: str = ""       # a training run folder
    out: str = ""           # where to write the HTML; empty: RUN_DIR/report.html


def run(argv: list[str]) -> Path:
    args = parse_arguments(argv, Arguments, positional=("run_dir",), example=EXAMPLE)
    if not args.run_dir:
        raise ConfigError(f"the run folder is required; e.g. {EXAMPLE}")
    path = build_report(args.run_dir, args.out or None)
    print(f"Wrote {path}")
    return path


@exit_on_user_error
def main(argv: list[str] | None = None) -> Path | None:
    return run_command(run, __doc__, argv)
