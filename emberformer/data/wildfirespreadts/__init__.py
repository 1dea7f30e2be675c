"""WildfireSpreadTS (Gerard et al., NeurIPS 2023 Datasets & Benchmarks): 607 real US fires 2018-2021,
one 23-band raster per day, read as released (`data=wildfirespreadts`), in pipeline order: the bands
and feature sets (bands.py) -> the files (layout.py) -> reading and checking them (reader.py) -> the
compact memory-mapped cache (cache.py) -> samples and WSTS's crops (dataset.py) -> features on the
device (features.py) -> WildfireSpreadTSData with WSTS's folds (datamodule.py).
"""

from emberformer.data.wildfirespreadts.datamodule import WildfireSpreadTSData

__all__ = ["WildfireSpreadTSData"]
