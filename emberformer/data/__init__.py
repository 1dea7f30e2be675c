"""Data families, one sub-package each (the `data=` group): organized_spreads/ (Cell2Fire exports
and the embedded dataset). Each offers a data module with `inputs` (contract.InputSpec),
`loader(split)`, `collate` and `to_device(device)` (its batches as a contract.Batch).
generate/ writes simulated datasets in the organized_spreads layout; embedded/ is one of them.
"""

from emberformer.data.organized_spreads.cache import SpreadsCache, open_cache
from emberformer.data.organized_spreads.collate import collate_spreads
from emberformer.data.organized_spreads.datamodule import FireSpreadData, split_sequences
from emberformer.data.organized_spreads.dataset import FireSpreadDataset
from emberformer.data.organized_spreads.features import WIND_FEATURES, WindStats, encode_wind
from emberformer.data.organized_spreads.layout import EMBEDDED_ROOT, write_organized_spreads
from emberformer.data.organized_spreads.reader import scan_spreads

__all__ = [
    "EMBEDDED_ROOT", "WIND_FEATURES", "FireSpreadData", "FireSpreadDataset", "SpreadsCache", "WindStats",
    "collate_spreads", "encode_wind", "open_cache", "scan_spreads", "split_sequences", "write_organized_spreads",
]
