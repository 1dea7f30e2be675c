"""`FireSpreadData`: the one object the training loop, the evaluator and the forecaster ask for data.

Built by Hydra from conf/data/*.yaml (`_target_: emberformer.data.FireSpreadData`). `__init__`
only checks arguments; `setup()` scans, validates, builds or reuses the cache, splits by
sequence and fits the wind statistics on the train split.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader, DistributedSampler

from emberformer.contract import InputSpec
from emberformer.data.organized_spreads.cache import SpreadsCache, fingerprint, open_cache
from emberformer.data.organized_spreads.collate import DeviceBatches, collate_spreads
from emberformer.data.organized_spreads.dataset import FireSpreadDataset
from emberformer.data.organized_spreads.features import WIND_NAMES, WindStats, encode_wind
from emberformer.data.organized_spreads.layout import EMBEDDED_ROOT
from emberformer.data.organized_spreads.reader import read_metadata, scan_spreads
from emberformer.errors import ConfigError

SPLITS = ("train", "val", "test")


def split_sequences(ids: list[int], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[int]]:
    """Shuffle sequence ids with `seed` and cut them into train/val/test.

    A non-zero fraction gets at least one sequence, and train always keeps at least one.
    """
    ids = sorted(int(i) for i in ids)
    n = len(ids)
    order = [int(i) for i in np.random.default_rng(seed).permutation(ids)]
    n_val = max(1, round(val_fraction * n)) if val_fraction > 0 else 0
    n_test = max(1, round(test_fraction * n)) if test_fraction > 0 else 0
    while n_val + n_test > n - 1 and n_val + n_test > 0:
        if n_test >= n_val:
            n_test -= 1
        else:
            n_val -= 1
    return {"train": sorted(order[n_val + n_test:]), "val": sorted(order[n_test:n_test + n_val]),
            "test": sorted(order[:n_test])}


def load_or_make_split(folder: Path, ids: list[int], val_fraction: float, test_fraction: float,
                       seed: int) -> tuple[dict[str, list[int]], Path, bool]:
    """Reuse `folder/split_*.json` when its parameters and sequence ids match, else write a new one.

    Returns (split, its path, whether it was reused). A hand-edited file that still covers the
    same ids with the same parameters is honoured.
    """
    params = {"val_fraction": val_fraction, "test_fraction": test_fraction, "seed": seed}
    path = folder / f"split_val{val_fraction:g}_test{test_fraction:g}_seed{seed}.json"
    try:
        saved = json.loads(path.read_text())
        split = {k: [int(i) for i in saved[k]] for k in SPLITS}
        if saved.get("params") == params and sorted(sum(split.values(), [])) == sorted(ids):
            return split, path, True
    except (OSError, ValueError, KeyError, TypeError):
        pass  # missing or unreadable: make a fresh one below
    split = split_sequences(ids, val_fraction, test_fraction, seed)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps({"params": params, **split}, indent=1) + "\n")
        os.replace(tmp, path)  # atomic for concurrent runs sharing the cache
    except OSError as err:
        warnings.warn(f"{path}: could not save the split ({err.strerror}); using it unsaved", stacklevel=2)
    return split, path, False


class FireSpreadData:
    """An organized_spreads folder (or the embedded dataset), cached, split and ready to load."""

    collate = staticmethod(collate_spreads)  # samples -> a compact batch (what `loader` batches with)
    cumulative = True  # its masks hold the area burned so far: a rollout's burned area never shrinks

    def __init__(self, root: str | None = None, max_history: int = 20, val_fraction: float = 0.15,
                 test_fraction: float = 0.15, split_seed: int = 0, cache_dir: str | None = None,
                 max_sequences: int | None = None):
        if int(max_history) < 1:
            raise ConfigError(f"data.max_history={max_history}: must be >= 1 (frames of history per sample)")
        for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0 <= float(value) < 1:
                raise ConfigError(f"data.{key}={value}: must be in [0, 1)")
        if float(val_fraction) + float(test_fraction) >= 1:
            raise ConfigError(f"data.val_fraction + data.test_fraction = {val_fraction + test_fraction}: "
                              "must be < 1 so that train keeps sequences")
        if max_sequences is not None and int(max_sequences) < 1:
            raise ConfigError(f"data.max_sequences={max_sequences}: must be >= 1 or null (all)")
        self.root = None if root in (None, "") else str(root)
        self.max_history = int(max_history)
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self.split_seed = int(split_seed)
        self.cache_dir = cache_dir
        self.max_sequences = None if max_sequences is None else int(max_sequences)
        self._cache: SpreadsCache | None = None
        self._datasets: dict[str, FireSpreadDataset] = {}

    # ------------------------------------------------------------------ setup

    def setup(self) -> FireSpreadData:
        """Validate, build or reuse the cache, split, fit wind stats. Idempotent."""
        if self._cache is not None:
            return self
        root = self._source_root()
        index = scan_spreads(root, self.max_sequences)
        cache = open_cache(index, self.cache_dir)
        ids = [s.seq_id for s in cache.sequences]
        self._split, self.split_path, self.split_reused = load_or_make_split(
            cache.path, ids, self.val_fraction, self.test_fraction, self.split_seed)
        train = [cache.position(i) for i in self._split["train"]]
        self._wind_stats = WindStats.fit(np.concatenate([cache.weather(p)[:, 0] for p in train]))
        self.root_path = root
        self.index = index  # source file paths, for tools that need the original PNGs
        self._cache = cache
        self._warn_empty_targets()
        return self

    def _source_root(self) -> Path:
        if self.root is None:
            return EMBEDDED_ROOT
        return Path(self.root).expanduser()

    def source_fingerprint(self) -> str:
        """The fingerprint of the source files (as the cache keys them) without building the cache:
        tells whether results computed earlier came from the same data."""
        if self._cache is not None:
            return self._cache.path.name
        return fingerprint(scan_spreads(self._source_root(), self.max_sequences))

    @property
    def cache(self) -> SpreadsCache:
        return self.setup()._cache

    @property
    def splits(self) -> dict[str, list[int]]:
        """Sequence ids of each split."""
        self.setup()
        return {k: list(v) for k, v in self._split.items()}

    @property
    def static_band_names(self) -> tuple[str, ...]:
        return self.cache.band_names

    @property
    def benchmark(self) -> str:
        """What a comparison calls this data: "embedded", "preset=<name>" for a folder the generator
        wrote with a preset (its dataset.json says so), else the folder's name."""
        root = self._source_root().resolve()
        if root == EMBEDDED_ROOT:
            return "embedded"
        preset = read_metadata(root).get("preset")
        return f"preset={preset}" if preset not in (None, "embedded") else root.name

    @property
    def inputs(self) -> InputSpec:
        """What the models are built for: the landscape's bands and the encoded wind; no other per-step rasters."""
        return InputSpec(static_names=self.static_band_names, wind_names=WIND_NAMES)

    @property
    def wind_stats(self) -> WindStats:
        return self.setup()._wind_stats

    # ------------------------------------------------------------------ access

    @staticmethod
    def _check_split(split: str) -> str:
        if split not in SPLITS:
            raise ConfigError(f"split {split!r}: must be one of {', '.join(SPLITS)}")
        return split

    def dataset(self, split: str) -> FireSpreadDataset:
        if self._check_split(split) not in self._datasets:
            cache = self.cache
            positions = [cache.position(i) for i in self._split[split]]
            self._datasets[split] = FireSpreadDataset(cache, positions, self.max_history, self.wind_stats)
        return self._datasets[split]

    def positive_fraction(self, split: str) -> float:
        """Share of fire pixels among the real target pixels of the split's samples (for pos_weight)."""
        positive, total = self._target_pixels(self._check_split(split))
        return positive / total if total else 0.0

    def _target_pixels(self, split: str) -> tuple[int, int]:
        """(fire pixels, all pixels) over the targets of a split's samples, from the cache's counts."""
        cache = self.cache
        sequences = [cache.sequences[cache.position(seq_id)] for seq_id in self._split[split]]
        return (sum(seq.target_pixels for seq in sequences),
                sum((seq.length - 1) * seq.shape[0] * seq.shape[1] for seq in sequences))

    def _warn_empty_targets(self) -> None:
        """A split whose targets hold no fire scores F1 = 0 whatever the model does: say so at start."""
        for split in SPLITS:
            positive, total = self._target_pixels(split)
            if total and not positive:
                warnings.warn(f"{self.root_path}: no target of the {split} split ({len(self._split[split])} "
                              f"sequences) holds a fire pixel, so its F1 and IoU are 0 whatever the model "
                              f"predicts; check the isochrones or the split (data.split_seed)", stacklevel=3)

    def loader(self, split: str, batch_size: int, num_workers: int = 0, pin_memory: bool = False,
               persistent_workers: bool = False, shuffle: bool | None = None, distributed: bool = False,
               seed: int = 0, drop_last: bool = False) -> DataLoader:
        """A DataLoader of collated batches (the batch contract: emberformer/data/collate.py).

        With distributed=True each rank gets a DistributedSampler: call `loader.sampler.set_epoch(e)`
        every epoch so the shuffle changes. An empty split yields no batches.
        """
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size={batch_size}: must be >= 1")
        ds = self.dataset(split)
        shuffle = (split == "train" if shuffle is None else bool(shuffle)) and len(ds) > 0
        sampler, generator = None, None
        if distributed:
            sampler = DistributedSampler(ds, shuffle=shuffle, seed=seed, drop_last=drop_last)
        elif shuffle:
            import torch

            generator = torch.Generator().manual_seed(seed)
        return DataLoader(ds, batch_size=int(batch_size), shuffle=shuffle and sampler is None, sampler=sampler,
                          num_workers=num_workers, pin_memory=pin_memory,
                          persistent_workers=persistent_workers and num_workers > 0,
                          collate_fn=collate_spreads, drop_last=drop_last, generator=generator)

    def to_device(self, device: str) -> DeviceBatches:
        """What turns this data's batches into model inputs on `device` (holds the landscape there)."""
        return DeviceBatches(self.cache.landscape(), device)

    def sequence(self, seq_id: int, wind_stats: WindStats | None = None) -> dict:
        """A whole sequence for the rollouts: fire frames and isochrones [n, H, W], the dynamic bands
        [n, 0, H, W] (none in this layout) and which are `held` in rollouts (none), static [C, H, W],
        encoded wind [n, F], the crop window, the rollout `origins` (every frame but the last) and each
        frame's `run_end` (the last frame: no gaps); `wind_stats` overrides this split's (e.g. a
        checkpoint's)."""
        cache = self.cache
        pos = cache.position(seq_id)
        seq = cache.sequences[pos]
        return {
            "fire_frames": cache.fire(pos, 0, seq.length),
            "isochrones": cache.isochrones(pos, 0, seq.length),
            "dynamic": np.zeros((seq.length, 0, *seq.shape), dtype=np.float32),
            "held": np.zeros(0, dtype=bool),
            "origins": list(range(seq.length - 1)),
            "run_end": [seq.length - 1] * seq.length,
            "static": cache.static(pos),
            "wind": encode_wind(cache.weather(pos), wind_stats or self.wind_stats),
            "window": seq.window,
        }

    def georeference(self, seq_id: int) -> tuple[str, tuple[float, ...]]:
        """(CRS, affine transform) of a sequence's crop window: the landscape GeoTIFF's grid shifted by the
        window's offset (the CRS is "" where the landscape has none, as the generator writes it)."""
        import rasterio

        y0, _, x0, _ = self.cache.sequences[self.cache.position(seq_id)].window
        with rasterio.open(self.index.landscape.path) as src:
            transform = src.transform @ rasterio.Affine.translation(x0, y0)
            return (src.crs.to_string() if src.crs else ""), tuple(transform)[:6]

    def describe(self) -> str:
        cache = self.cache
        seqs = cache.sequences
        counts = "/".join(str(len(self._split[k])) for k in SPLITS)
        samples = "/".join(str(len(self.dataset(k))) for k in SPLITS)
        heights = [s.shape[0] for s in seqs]
        widths = [s.shape[1] for s in seqs]
        lengths = [s.length for s in seqs]
        built = "reused" if cache.built_s is None else f"built in {cache.built_s:.1f}s"
        return (f"data {self.root_path}: {len(seqs)} sequences (train/val/test {counts}, samples {samples}), "
                f"{min(lengths)}-{max(lengths)} frames, crops {min(heights)}-{max(heights)} x "
                f"{min(widths)}-{max(widths)} px, {len(self.static_band_names)} static bands "
                f"[{', '.join(self.static_band_names)}], max_history {self.max_history}, "
                f"wind speed mean {self.wind_stats.speed_mean:.2f} std {self.wind_stats.speed_std:.2f}, "
                f"cache {cache.path} ({built})")
