"""python -m emberformer.bench.wildfirespreadts root=GEOTIFFS hdf5=HDF5S wsts_repo=CHECKOUT
    [batch_sizes=[8,64]] [samples=192] [rounds=2] [workers=0] [crop=128] [leading_days=5] [out=FILE]

The WildfireSpreadTS training loader, side by side on the same files: samples/s of this project's
(`data=wildfirespreadts`: the cache, WSTS's fire-biased crops, flips and turns, the features made on
the device) against WSTS's own `FireSpreadDataset` (from a checkout of SebastianGer/WildfireSpreadTS,
`wsts_repo`) reading its HDF5 files (`hdf5`, as its CreateHDF5Dataset.py writes them) and reading the
GeoTIFFs (`root`), each in a DataLoader with the same batch size, workers and shuffling, on fold 0's
training years (2018, 2019; WSTS's statistics for them). WSTS's loader delivers model-ready tensors
(its 40-channel crops, made on the CPU); ours delivers compact batches (the stored codes of the
crop) that become a contract.Batch on the device: timed alone ("loader"), and with that device step
run on this CPU too ("loader + features on the CPU", what a CPU-only run pays). Each figure is about
`samples` samples (whole batches); rounds alternate the contenders so load drifts hit each alike;
every figure is printed and written to `out` (JSON). Our cache is built before timing (its build
time is reported apart). WSTS's loader imports `T_co` from torch.utils.data.dataset, which torch 2.5
moved: the benchmark gives torch that name back before importing it (its code is not changed).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
import typing
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from emberformer.bench.common import cpu_name
from emberformer.cli import parse_arguments, run_command
from emberformer.errors import ConfigError, exit_on_user_error

TRAIN_YEARS = [2018, 2019]


@dataclasses.dataclass
class BenchArgs:
    root: str
    hdf5: str | None = None
    wsts_repo: str | None = None
    batch_sizes: list[int] = dataclasses.field(default_factory=lambda: [8, 64])
    samples: int = 192
    rounds: int = 2
    workers: int = 0
    crop: int = 128
    leading_days: int = 5
    threads: int = 2
    cache_dir: str | None = None
    out: str | None = None


def wsts_dataset_class(repo: Path):
    """WSTS's FireSpreadDataset class, imported from its checkout."""
    if not (repo / "src" / "dataloader" / "FireSpreadDataset.py").is_file():
        raise ConfigError(f"wsts_repo={repo}: no src/dataloader/FireSpreadDataset.py; give a checkout of "
                          "github.com/SebastianGer/WildfireSpreadTS")
    import torch.utils.data.dataset as torch_dataset

    if not hasattr(torch_dataset, "T_co"):
        torch_dataset.T_co = typing.TypeVar("T_co", covariant=True)
    sys.path.insert(0, str(repo))
    from src.dataloader.FireSpreadDataset import FireSpreadDataset

    return FireSpreadDataset


def samples_per_second(batches_of, n_batches: int) -> tuple[float, int]:
    """(samples/s, samples) over `n_batches` batches after one warm-up batch (worker start, first opens)."""
    iterator = iter(batches_of())
    next(iterator)
    samples, start = 0, time.perf_counter()
    for _ in range(n_batches):
        samples += next(iterator)
    return samples / (time.perf_counter() - start), samples


def run(args: BenchArgs) -> dict:
    from emberformer.data.wildfirespreadts import WildfireSpreadTSData

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    start = time.perf_counter()
    data = WildfireSpreadTSData(args.root, fold=0, leading_days=args.leading_days, crop=args.crop,
                                cache_dir=args.cache_dir).setup()
    setup_s = time.perf_counter() - start
    features = data.to_device("cpu")
    contenders = {"emberformer loader": "loader", "emberformer loader + features on the CPU": "features"}
    dataset_class = wsts_dataset_class(Path(args.wsts_repo).expanduser()) if args.wsts_repo else None
    if dataset_class is not None:
        kwargs = dict(included_fire_years=TRAIN_YEARS, n_leading_observations=args.leading_days,
                      crop_side_length=args.crop, is_train=True, remove_duplicate_features=False,
                      stats_years=TRAIN_YEARS)
        if args.hdf5:
            contenders["WSTS FireSpreadDataset (HDF5)"] = dataset_class(data_dir=args.hdf5, load_from_hdf5=True,
                                                                        **kwargs)
        contenders["WSTS FireSpreadDataset (GeoTIFF)"] = dataset_class(data_dir=args.root, load_from_hdf5=False,
                                                                       **kwargs)

    def loader(name: str, batch_size: int):
        """Batch sizes, epoch after epoch (a small copy holds fewer samples than the timed batches)."""
        while True:
            if isinstance(contenders[name], str):
                for batch in data.loader("train", batch_size=batch_size, num_workers=args.workers, seed=0):
                    yield len(features(batch)["fire"] if contenders[name] == "features" else batch["fire_time"])
            else:
                for x, _ in DataLoader(contenders[name], batch_size=batch_size, shuffle=True,
                                       num_workers=args.workers):
                    yield len(x)

    results = {name: {size: [] for size in args.batch_sizes} for name in contenders}
    for _ in range(args.rounds):
        for size in args.batch_sizes:
            for name in contenders:
                rate, _ = samples_per_second(lambda: loader(name, size), max(1, args.samples // size))
                results[name][size].append(rate)
                print(f"{name}, batch {size}: {rate:.1f} samples/s", flush=True)
    report = {
        "machine": f"{cpu_name()}, {args.threads} threads, {args.workers} workers", "torch": torch.__version__,
        "root": args.root, "hdf5": args.hdf5, "train_samples": len(data.dataset("train")),
        "crop": args.crop, "leading_days": args.leading_days, "samples": args.samples, "rounds": args.rounds,
        "our_setup_s": round(setup_s, 1), "our_cache_built_s": data.cache.built_s,
        "samples_per_s": {name: {str(size): [round(r, 2) for r in rates] for size, rates in per.items()}
                          for name, per in results.items()},
    }
    median = {name: {size: statistics.median(rates) for size, rates in per.items()} for name, per in results.items()}
    ours = [name for name, kind in contenders.items() if isinstance(kind, str)]
    report["ratios"] = {f"{mine} / {theirs}": {str(size): round(median[mine][size] / median[theirs][size], 1)
                                                for size in args.batch_sizes}
                        for mine in ours for theirs in contenders if theirs not in ours}
    print(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return report


def _command(argv: list[str]) -> dict:
    parsed = parse_arguments(argv, BenchArgs, example="root=/data/WildfireSpreadTS wsts_repo=~/WildfireSpreadTS")
    from omegaconf import OmegaConf

    if OmegaConf.is_missing(parsed, "root"):
        raise ConfigError("root is required: the WildfireSpreadTS GeoTIFFs (root=DIR)")
    return run(BenchArgs(**OmegaConf.to_container(parsed)))


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict | None:
    return run_command(_command, __doc__, argv)


if __name__ == "__main__":
    main()
