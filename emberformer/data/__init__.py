"""Data: the organized_spreads layout, its cache, next-step samples and the batch contract."""

from emberformer.data.cache import SpreadsCache, open_cache
from emberformer.data.datamodule import FireSpreadData, split_sequences
from emberformer.data.dataset import WIND_FEATURES, FireSpreadDataset, WindStats, collate_spreads, encode_wind
from emberformer.data.layout import scan_spreads, write_organized_spreads

__all__ = [
    "WIND_FEATURES", "FireSpreadData", "FireSpreadDataset", "SpreadsCache", "WindStats", "collate_spreads",
    "encode_wind", "open_cache", "scan_spreads", "split_sequences", "write_organized_spreads",
]
