"""python -m emberformer.bench.reference RUN_DIR

Record a finished quickstart run (`make train`, i.e. `python -m emberformer.train experiment=quickstart
hardware=cpu`) as the reference that the GPU check compares its own quickstart training with: writes
emberformer/bench/quickstart_reference.json (the run's final val metrics, its test scores and training time, its
recipe, this machine's CPU, the date). A run of another recipe, or one that didn't complete, is refused in one line.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import torch
import yaml

from emberformer.bench.common import cpu_name
from emberformer.cli import run_command
from emberformer.errors import ConfigError, DataError, exit_on_user_error

REFERENCE_PATH = Path(__file__).resolve().parent / "quickstart_reference.json"
RECIPE = "experiment=quickstart"


def load_reference(path: Path = REFERENCE_PATH) -> dict:
    """The recorded quickstart run: {"final_val": {...}, "overrides", "machine", "date", ...}."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: no readable quickstart reference ({err}); record one with "
                        f"python -m emberformer.bench.reference <a make train run folder>") from None


def reference_from_run(run_dir: Path) -> dict:
    """The reference record of a finished quickstart run folder."""
    result_path, overrides_path = run_dir / "result.json", run_dir / ".hydra" / "overrides.yaml"
    for path in (result_path, overrides_path):
        if not path.is_file():
            raise DataError(f"{path}: missing; pass the folder of a finished `make train` run")
    result = json.loads(result_path.read_text())
    overrides = yaml.safe_load(overrides_path.read_text()) or []
    if RECIPE not in overrides:
        raise ConfigError(f"{run_dir} was trained with {' '.join(overrides) or 'no overrides'}, not {RECIPE}: "
                          "pass a run of `make train`")
    if result.get("status") != "completed" or not result.get("final_val"):
        raise DataError(f"{result_path}: status {result.get('status')!r}; record a run that completed")
    # The test scores and training time are for people comparing machines; the GPU check reads final_val.
    return {"recipe": RECIPE, "overrides": overrides, "final_val": result["final_val"], "test": result.get("test"),
            "train_seconds": result.get("train_seconds"), "machine": cpu_name(), "torch": torch.__version__,
            "date": datetime.date.today().isoformat()}


def _record(argv: list[str]) -> dict:
    if len(argv) != 1:
        raise ConfigError("pass one run folder: python -m emberformer.bench.reference outputs/<date>/<time>")
    record = reference_from_run(Path(argv[0]).expanduser())
    REFERENCE_PATH.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {REFERENCE_PATH}: val F1 {record['final_val']['f1']:.3f} of {argv[0]} ({record['machine']})")
    return record


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict | None:
    return run_command(_record, __doc__, argv)


if __name__ == "__main__":
    main()
