"""Data, in pipeline order: the organized_spreads files (layout.py) -> the memory-mapped cache
(cache.py) -> next-step samples (dataset.py, with features.py) -> padded batches (collate.py);
datamodule.py ties them together for the training loop. generate/ writes simulated datasets.
"""

from emberformer.data.cache import SpreadsCache, open_cache
from emberformer.data.collate import collate_spreads
from emberformer.data.datamodule import FireSpreadData, split_sequences
from emberformer.data.dataset import FireSpreadDataset
from emberformer.data.features import WIND_FEATURES, WindStats, encode_wind
from emberformer.data.layout import EMBEDDED_ROOT, scan_spreads, write_organized_spreads

__all__ = [
    "EMBEDDED_ROOT", "WIND_FEATURES", "FireSpreadData", "FireSpreadDataset", "SpreadsCache", "WindStats",
    "collate_spreads", "encode_wind", "open_cache", "scan_spreads", "split_sequences", "write_organized_spreads",
]
