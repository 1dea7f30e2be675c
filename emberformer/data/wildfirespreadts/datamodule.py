"""`WildfireSpreadTSData` (`data=wildfirespreadts data.root=...`): WSTS's protocol as a data module.

Built by Hydra from conf/data/wildfirespreadts.yaml. `setup()` scans the root (the GeoTIFF release or
WSTS's HDF5 conversion), builds or reuses the cache, takes the fold's years and fits the fold's
statistics on its training years only. The folds are WSTS's 12 leave-one-year-out splits of
2018-2021 (`data.fold`, the same (train, val, test) years as its data module); test scores whole
test-year images as WSTS does; val reads whole images too (WSTS's val uses random training crops:
a noisy early-stopping signal).
"""

from __future__ import annotations

import datetime

import numpy as np
from torch.utils.data import DataLoader, DistributedSampler

from emberformer.contract import InputSpec
from emberformer.data.wildfirespreadts.bands import ACTIVE_FIRE, BANDS, selected_bands
from emberformer.data.wildfirespreadts.cache import WstsCache, fingerprint, open_cache
from emberformer.data.wildfirespreadts.dataset import WstsDataset, band_batch, collate_wsts, target_days
from emberformer.data.wildfirespreadts.features import Stats, WstsFeatures, feature_names
from emberformer.data.wildfirespreadts.reader import scan
from emberformer.errors import ConfigError, DataError, check_positive_int
from emberformer.naming import id_ranges

SPLITS = ("train", "val", "test")
# WSTS's folds (its FireSpreadDataModule): (train years, val year, test year).
FOLDS = (
    ((2018, 2019), 2020, 2021), ((2018, 2019), 2021, 2020), ((2018, 2020), 2019, 2021),
    ((2018, 2020), 2021, 2019), ((2018, 2021), 2019, 2020), ((2018, 2021), 2020, 2019),
    ((2019, 2020), 2018, 2021), ((2019, 2020), 2021, 2018), ((2019, 2021), 2018, 2020),
    ((2019, 2021), 2020, 2018), ((2020, 2021), 2018, 2019), ((2020, 2021), 2019, 2018),
)
BENCHMARK = "WildfireSpreadTS"


class WildfireSpreadTSData:
    """A WildfireSpreadTS copy, cached, split by WSTS's fold and ready to load."""

    collate = staticmethod(collate_wsts)
    cumulative = False  # its masks are the day's active fire, not the area burned so far

    def __init__(self, root: str, fold: int = 0, leading_days: int = 5, test_first_target: int = 5,
                 crop: int = 128, features="all", cache_dir: str | None = None, max_sequences: int | None = None):
        if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < len(FOLDS):
            raise ConfigError(f"data.fold={fold} must be one of WSTS's folds 0..{len(FOLDS) - 1}")
        check_positive_int(leading_days, "data.leading_days")
        check_positive_int(test_first_target, "data.test_first_target")
        check_positive_int(crop, "data.crop")
        if max_sequences is not None:
            check_positive_int(max_sequences, "data.max_sequences")
        self.bands = selected_bands(features)  # checks data.features
        if root in (None, "", "???"):
            raise ConfigError("data.root is required: data=wildfirespreadts data.root=/path/to/WildfireSpreadTS")
        self.root, self.fold, self.crop = str(root), fold, crop
        self.leading_days, self.test_first_target = leading_days, test_first_target
        self.max_history = leading_days  # what the rollouts feed back (every sample has T days)
        self.cache_dir = cache_dir
        self.features = features
        self.max_sequences = max_sequences
        self._cache: WstsCache | None = None
        self._datasets: dict[str, WstsDataset] = {}

    # ------------------------------------------------------------------ setup

    def setup(self) -> WildfireSpreadTSData:
        if self._cache is not None:
            return self
        index = scan(self.root)
        cache = open_cache(index, self.cache_dir)
        train_years, val_year, test_year = FOLDS[self.fold]
        years = {"train": set(train_years), "val": {val_year}, "test": {test_year}}
        self._fires = {split: [i for i, f in enumerate(cache.fires) if f.year in wanted]
                       for split, wanted in years.items()}
        if self.max_sequences is not None:  # the first N fires of each year (smoke tests)
            self._fires = {split: [i for i in fires if sum(cache.fires[k].year == cache.fires[i].year
                                                           for k in fires if k <= i) <= self.max_sequences]
                           for split, fires in self._fires.items()}
        for split, wanted in years.items():
            if not self._fires[split]:
                have = sorted({f.year for f in cache.fires})
                raise DataError(f"{self.root}: fold {self.fold} needs the {split} year(s) {sorted(wanted)}, but the "
                                f"copy holds {have}; add those years or choose another data.fold")
        self.root_path = index.root
        self._cache = cache
        self._stats = self._fit_stats()
        return self

    def _fit_stats(self) -> dict[int, Stats]:
        """Each band's mean and std over the finite values of the fold's training fires only."""
        cache = self._cache
        return {band.index: Stats.from_sums(np.sum([cache.fires[i].chunks[band.index].sums
                                                    for i in self._fires["train"]], axis=0))
                for band in BANDS}

    @property
    def cache(self) -> WstsCache:
        return self.setup()._cache

    def source_fingerprint(self) -> str:
        if self._cache is not None:
            return self._cache.path.name
        return fingerprint(scan(self.root))

    @property
    def benchmark(self) -> str:
        return BENCHMARK

    @property
    def splits(self) -> dict[str, list[int]]:
        """Fire ids of each split."""
        cache = self.cache
        return {split: [cache.fires[i].fire_id for i in fires] for split, fires in self._fires.items()}

    @property
    def axis_as_angle(self) -> bool:
        """True where the forecast wind direction spans more than -90..90 (atan2 data, not the release's atan)."""
        return self.cache.angle_range > 90.5

    @property
    def dynamic_bands(self):
        return tuple(b for b in self.bands if not b.static and b.index != ACTIVE_FIRE)

    @property
    def static_bands(self):
        return tuple(b for b in self.bands if b.static)

    def _features(self, device) -> WstsFeatures:
        self.setup()
        return WstsFeatures(self.dynamic_bands, self.static_bands, self._stats, self.axis_as_angle, device)

    @property
    def inputs(self) -> InputSpec:
        """Per day: the fire mask, then the dynamic bands' features (the detection hour last); static:
        terrain and land cover; no per-step scalars."""
        features = self._features("cpu")
        return InputSpec(static_names=features.names(self.static_bands),
                         dynamic_names=(*features.names(self.dynamic_bands), "active_fire_hour"))

    # ------------------------------------------------------------------ access

    def dataset(self, split: str) -> WstsDataset:
        if split not in SPLITS:
            raise ConfigError(f"split {split!r}: must be one of {', '.join(SPLITS)}")
        if split not in self._datasets:
            cache = self.cache
            first_target = self.leading_days if split != "test" else max(self.leading_days, self.test_first_target)
            self._datasets[split] = WstsDataset(cache, self._fires[split], self.leading_days, first_target,
                                                self.dynamic_bands, self.static_bands,
                                                crop=self.crop if split == "train" else None)
        return self._datasets[split]

    def loader(self, split: str, batch_size: int, num_workers: int = 0, pin_memory: bool = False,
               persistent_workers: bool = False, shuffle: bool | None = None, distributed: bool = False,
               seed: int = 0, drop_last: bool = False) -> DataLoader:
        import torch

        if int(batch_size) < 1:
            raise ConfigError(f"batch_size={batch_size}: must be >= 1")
        ds = self.dataset(split)
        shuffle = (split == "train" if shuffle is None else bool(shuffle)) and len(ds) > 0
        sampler = DistributedSampler(ds, shuffle=shuffle, seed=seed, drop_last=drop_last) if distributed else None
        generator = torch.Generator().manual_seed(seed) if shuffle and sampler is None else None
        return DataLoader(ds, batch_size=int(batch_size), shuffle=shuffle and sampler is None, sampler=sampler,
                          num_workers=num_workers, pin_memory=pin_memory,
                          persistent_workers=persistent_workers and num_workers > 0,
                          collate_fn=collate_wsts, drop_last=drop_last, generator=generator)

    def to_device(self, device) -> WstsFeatures:
        return self._features(device)

    def positive_fraction(self, split: str) -> float:
        """Share of fire pixels among the target pixels of the split's whole images (for pos_weight=auto)."""
        ds = self.dataset("val" if split == "val" else split)
        positive = total = 0
        for pos, j in ds.samples:
            fire = self.cache.fires[pos]
            times = self.cache.read(pos, ACTIVE_FIRE, slice(j, j + 1), slice(None), slice(None))
            positive += int((times > 0).sum())
            total += fire.height * fire.width
        return positive / total if total else 0.0

    def sequence(self, seq_id: int, wind_stats=None) -> dict:
        """A whole fire for the rollouts and forecasts: fire masks [n, H, W] (each day's active fire, the
        "isochrones" too), the dynamic features [n, D, H, W], static [C, H, W], no wind, which dynamic
        channels are observations of the day (`held`: in a rollout they keep the forecast origin's values,
        as tomorrow's satellite pass isn't known; weather and forecasts are taken as recorded), the
        rollout `origins` (the days before the test protocol's targets) and each day's `run_end` (the last
        day before a missing one)."""
        import torch

        cache = self.cache
        pos = next((i for i, f in enumerate(cache.fires) if f.fire_id == int(seq_id)), None)
        if pos is None:
            raise DataError(f"{self.root}: no fire {seq_id} in this copy; its fire ids are "
                            f"{id_ranges([f.fire_id for f in cache.fires])}")
        fire = cache.fires[pos]
        days = len(fire.dates)
        times = cache.read(pos, ACTIVE_FIRE, slice(0, days), slice(None), slice(None))
        whole, origin = (slice(0, days), slice(None), slice(None)), slice(days - 1, days)
        items = [cache.codes(pos, b.index, *whole) for b in self.dynamic_bands]
        items += [cache.codes(pos, b.index, origin, slice(None), slice(None)) for b in self.static_bands]
        batch = {
            "bands": [band_batch([(np.ascontiguousarray(c), codec, palette)], lambda a, fill: a)
                      for c, codec, palette in items],
            "fire_time": torch.from_numpy(np.concatenate([times, times[-1:]]))[None],
            "pixel_mask": torch.ones(1, 1, fire.height, fire.width),
            "aug": torch.zeros(1, 3, dtype=torch.long),
            "seq_id": torch.tensor([fire.fire_id]), "t": torch.tensor([days - 1]), "length": torch.tensor([days]),
        }
        encoder = self._features("cpu")
        features = encoder(batch)
        held = [b.group == "vegetation" for b in self.dynamic_bands for _ in feature_names(b, encoder.axis_as_angle)]
        masks = (times > 0).astype(np.uint8)
        first_target = max(self.leading_days, self.test_first_target)
        dates = [datetime.date.fromisoformat(d) for d in fire.dates]
        run_end = list(range(days))
        for t in range(days - 2, -1, -1):  # each day's run of consecutive days ends where the next one is missing
            run_end[t] = run_end[t + 1] if (dates[t + 1] - dates[t]).days == 1 else t
        return {
            "fire_frames": masks, "isochrones": masks,
            "origins": [j - 1 for j in target_days(fire.dates, self.leading_days, first_target)],
            "run_end": run_end,
            "dynamic": features["dynamic"][0].numpy(),
            "held": np.array([*held, True]),  # the detection hour is an observation too
            "static": features["static"][0].numpy(),
            "wind": np.zeros((days, 0), np.float32),
            "window": (0, fire.height, 0, fire.width),
        }

    def georeference(self, seq_id: int) -> tuple[str, tuple[float, ...]]:
        """(CRS, affine transform) of a fire's whole grid, as its files give it."""
        fire = next(f for f in self.cache.fires if f.fire_id == int(seq_id))
        return fire.crs, fire.transform

    def describe(self) -> str:
        cache = self.cache
        train_years, val_year, test_year = FOLDS[self.fold]
        counts = "/".join(str(len(self._fires[k])) for k in SPLITS)
        samples = "/".join(str(len(self.dataset(k))) for k in SPLITS)
        built = "reused" if cache.built_s is None else f"built in {cache.built_s:.1f}s"
        axis = "sin/cos of the angle (atan2 data)" if self.axis_as_angle else "sin/cos of 2x the axis (atan data)"
        inputs = self.inputs
        return (f"WildfireSpreadTS {self.root_path} ({cache.meta['form']}), fold {self.fold}: train "
                f"{'+'.join(map(str, train_years))}, val {val_year}, test {test_year}; fires {counts}, samples "
                f"{samples}; {self.leading_days} leading days (test targets from day "
                f"{max(self.leading_days, self.test_first_target)}), "
                f"training crops {self.crop} px, whole images (cut to x32) for val/test; features "
                f"{self.features}: dynamic [{', '.join(inputs.dynamic_names)}], static "
                f"[{', '.join(inputs.static_names)}]; forecast wind direction as {axis}; cache {cache.path} ({built})")
