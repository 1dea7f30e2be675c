"""The `organized_spreads` layout (Cell2Fire-style exports, the embedded dataset, the generator's
output), in pipeline order: the format and its writer (layout.py) -> reading and checking the
files (reader.py) -> the memory-mapped cache (cache.py) -> next-step samples (dataset.py, with
features.py) -> compact batches and their device side (collate.py); datamodule.py ties them
together as `FireSpreadData` (`data=embedded`, `data=organized_spreads`).
"""

from emberformer.data.organized_spreads.datamodule import FireSpreadData

__all__ = ["FireSpreadData"]
