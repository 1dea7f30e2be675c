"""Used by the sweep and compare commands (and report, for metrics.jsonl): reading the folders
training leaves. A run's `metrics.jsonl`; a `--multirun` sweep's job folders with their
`.hydra/overrides.yaml`, `result.json` and `metrics.jsonl`, ranked by the value they early-stop on
(`load_sweep`), finished or still running; grid and Optuna sweeps alike.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from emberformer.errors import DataError
from emberformer.naming import natural_key

FINISHED = ("completed", "early_stopped", "interrupted")
RUNNING = "running"
FAILED = "failed"
EXTRA_VAL_METRICS = ("f1", "prec", "rec", "iou", "loss")  # shown at the best epoch, beside the monitor
SWEEP_FILES = ("multirun.yaml", "optimization_results.yaml")  # written by the basic / Optuna sweeper


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
    seconds: float | None = None                # its training time (result.json's train_seconds: the
                                                # last process's, when resumed); for older runs, from
                                                # Hydra's .hydra/config.yaml to result.json

    @property
    def finished(self) -> bool:
        return self.status in FINISHED and self.best_value is not None

    @property
    def note(self) -> str:
        """What the summary says beside the job: how a running job fares, how to resume an
        interrupted one, a failed one's error."""
        if self.status == RUNNING:
            # A job of a sweep that was killed never writes result.json: its age tells it apart.
            progress = "best so far" if self.best_value is not None else "no epoch finished yet"
            return f"running: {progress}, last update {_ago(self.last_update)}"
        if self.status == "interrupted":
            return f"interrupted: resume with train.resume={self.path / 'checkpoints' / 'last.pt'}"
        return self.error or ""


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
# Shared readers
# --------------------------------------------------------------------------------------------
def read_metrics_jsonl(path: Path) -> list:
    """The records of a run's metrics.jsonl, in order. A line that doesn't parse is skipped: a
    running job is writing it right now, or a run killed mid-write left it partial."""
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def finite_number(value) -> float | None:
    """A metric as float, None when missing or not finite; the logger writes non-finite values as
    strings ("nan", "inf")."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def is_better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return "just now"


# --------------------------------------------------------------------------------------------
# Reading a sweep
# --------------------------------------------------------------------------------------------
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
    return sorted(found, key=lambda p: natural_key(str(p.relative_to(root))))


def _read_overrides(job_dir: Path) -> dict[str, str]:
    lines = OmegaConf.to_container(OmegaConf.load(job_dir / ".hydra" / "overrides.yaml")) or []
    # Keys never contain '=' (values may): the first '=' splits them.
    return dict(str(line).partition("=")[::2] for line in lines)


def _read_epochs(job_dir: Path) -> dict[int, dict]:
    """Epoch-level records of metrics.jsonl by epoch (a resumed run's repeat of an epoch wins)."""
    try:
        records = read_metrics_jsonl(job_dir / "metrics.jsonl")
    except FileNotFoundError:
        return {}
    epochs: dict[int, dict] = {}
    for record in records:
        if isinstance(record, dict) and "epoch" in record:
            epochs[int(record["epoch"])] = record
    return epochs


def _read_job(root: Path, job_dir: Path, monitor: str, mode: str) -> Job:
    job = Job(name=str(job_dir.relative_to(root)), path=job_dir, overrides=_read_overrides(job_dir), status=RUNNING)
    epochs = _read_epochs(job_dir)
    activity = job_dir / "metrics.jsonl" if (job_dir / "metrics.jsonl").is_file() else job_dir / ".hydra"
    job.last_update = time.time() - activity.stat().st_mtime
    key = f"{monitor}_epoch"
    job.curve = [(e, v) for e, rec in sorted(epochs.items()) if (v := finite_number(rec.get(key))) is not None]
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
        job.best_value = finite_number(result.get("best_value"))
        job.best_epoch = result.get("best_epoch")
        job.epochs_run = result.get("stop_epoch", job.epochs_run)
        job.seconds = finite_number(result.get("train_seconds"))
        started = job_dir / ".hydra" / "config.yaml"
        if job.seconds is None and started.is_file():  # a run from before train_seconds was recorded
            job.seconds = result_path.stat().st_mtime - started.stat().st_mtime
    elif job.curve:  # running: the best so far
        best = job.curve[0]
        for point in job.curve[1:]:
            if is_better(point[1], best[1], mode):
                best = point
        job.best_epoch, job.best_value = best

    record = epochs.get(job.best_epoch, {}) if job.best_epoch is not None else {}
    job.at_best = {m: v for m in EXTRA_VAL_METRICS if (v := finite_number(record.get(f"val/{m}_epoch"))) is not None}
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
    finished.sort(key=lambda j: (-j.best_value if mode == "max" else j.best_value, natural_key(j.name)))
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
