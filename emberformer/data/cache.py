"""Decode an organized_spreads folder once into memory-mapped arrays.

Decoding every PNG of every sample every epoch is what made the original pipeline slow. The
cache holds, per source fingerprint (paths + sizes + mtimes, so any edit rebuilds it):

```
<cache root>/<fingerprint>/
    meta.json        sequences (id, length, window, byte offsets), band names and stats
    landscape.npy    float32 [C, H, W] normalised static bands (whole landscape; crops are views)
    fire.npy         uint8 1-D: every sequence's fire frames, np.packbits along W, concatenated
    isochrones.npy   same layout and offsets as fire.npy
    weather.npy      float32 [sum of lengths, 2] raw (WS, WD) per step
```
One flat file per kind (rather than one per sequence) keeps a DataLoader worker at a handful
of open memmaps however many sequences there are. The cache root is `cache_dir`, else
$EMBERFORMER_CACHE, else ~/.cache/emberformer, so a read-only data folder works.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from emberformer.data.features import normalise_static
from emberformer.data.layout import (
    SequenceSource,
    SpreadsIndex,
    check_png_sizes,
    read_landscape,
    read_mask,
    read_weather,
)
from emberformer.errors import DataError

CACHE_VERSION = 1
CACHE_ENV = "EMBERFORMER_CACHE"
META_NAME = "meta.json"
ARRAYS = ("landscape", "fire", "isochrones", "weather")


def default_cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "emberformer"


def fingerprint(index: SpreadsIndex) -> str:
    """Hash of the format version and every source file's relative path, size and mtime."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(f"emberformer-spreads-cache v{CACHE_VERSION}\n".encode())
    for path in index.source_files():
        st = path.stat()
        digest.update(f"{os.path.relpath(path, index.root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedSequence:
    seq_id: int
    length: int
    window: tuple[int, int, int, int]
    offset: int  # byte offset into fire.npy / isochrones.npy
    weather_offset: int  # row offset into weather.npy

    @property
    def shape(self) -> tuple[int, int]:
        y0, y1, x0, x1 = self.window
        return y1 - y0, x1 - x0

    @property
    def frame_bytes(self) -> int:
        h, w = self.shape
        return h * ((w + 7) // 8)


class SpreadsCache:
    """Read side of a built cache. Memmaps open lazily, once per process (DataLoader workers)."""

    def __init__(self, path: str | Path, built_s: float | None = None):
        self.path = Path(path)
        self.meta = json.loads((self.path / META_NAME).read_text())
        self.sequences = tuple(CachedSequence(s["seq_id"], s["length"], tuple(s["window"]), s["offset"],
                                              s["weather_offset"]) for s in self.meta["sequences"])
        self.band_names: tuple[str, ...] = tuple(self.meta["band_names"])
        self.built_s = built_s  # seconds spent building in this process; None when reused
        self._position = {s.seq_id: i for i, s in enumerate(self.sequences)}
        self._arrays: dict[str, np.ndarray] | None = None

    def __getstate__(self) -> dict:
        # Memmaps don't pickle usefully: each worker reopens its own.
        return {**self.__dict__, "_arrays": None}

    def _open(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = {k: np.load(self.path / f"{k}.npy", mmap_mode="r") for k in ARRAYS}
        return self._arrays

    def position(self, seq_id: int) -> int:
        try:
            return self._position[int(seq_id)]
        except KeyError:
            raise DataError(f"{self.path}: no sequence {seq_id} in this dataset; known ids are "
                            f"{self.sequences[0].seq_id}..{self.sequences[-1].seq_id}") from None

    def _unpack(self, kind: str, pos: int, start: int, stop: int) -> np.ndarray:
        seq = self.sequences[pos]
        (h, w), fb = seq.shape, seq.frame_bytes
        flat = self._open()[kind][seq.offset + start * fb: seq.offset + stop * fb]
        return np.unpackbits(flat.reshape(stop - start, h, fb // h), axis=-1, count=w)

    def fire(self, pos: int, start: int, stop: int) -> np.ndarray:
        """uint8 {0, 1} [stop - start, H, W] fire frames of the sequence at `pos`."""
        return self._unpack("fire", pos, start, stop)

    def isochrones(self, pos: int, start: int, stop: int) -> np.ndarray:
        return self._unpack("isochrones", pos, start, stop)

    def static(self, pos: int) -> np.ndarray:
        """float32 [C, H, W] normalised landscape under the sequence's crop window (a copy)."""
        y0, y1, x0, x1 = self.sequences[pos].window
        return np.array(self._open()["landscape"][:, y0:y1, x0:x1])

    def weather(self, pos: int) -> np.ndarray:
        """float32 [length, 2] raw (WS, WD) of the sequence's steps."""
        seq = self.sequences[pos]
        return np.array(self._open()["weather"][seq.weather_offset: seq.weather_offset + seq.length])


def _decode_into(seq: SequenceSource, entry: CachedSequence, fire: np.ndarray, iso: np.ndarray) -> int:
    start, stop = entry.offset, entry.offset + seq.length * entry.frame_bytes
    for paths, out in ((seq.frames, fire), (seq.isochrones, iso)):
        masks = np.stack([read_mask(p, seq.shape) for p in paths])
        out[start:stop] = np.packbits(masks, axis=-1).reshape(-1)
    return 2 * seq.length


def _build(index: SpreadsIndex, final: Path, progress: bool) -> None:
    # Everything cheap that can fail goes first, so bad input is reported before the long decode.
    bands, valid = read_landscape(index.landscape.path)
    landscape, band_stats = normalise_static(bands, valid)
    weather = [read_weather(seq.weather, seq.length) for seq in index.sequences]
    for seq in index.sequences:
        check_png_sizes(seq)

    entries, offset, row = [], 0, 0
    for seq in index.sequences:
        entry = CachedSequence(seq.seq_id, seq.length, seq.window, offset, row)
        entries.append(entry)
        offset += seq.length * entry.frame_bytes
        row += seq.length

    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        tmp.chmod(0o755)  # mkdtemp's 0700 would keep a shared cache folder private to its builder
    except OSError as err:
        raise DataError(f"{final.parent}: can't create the cache there ({err.strerror}); set data.cache_dir "
                        f"or ${CACHE_ENV} to a writable folder") from err
    try:
        np.save(tmp / "landscape.npy", landscape)
        np.save(tmp / "weather.npy", np.concatenate(weather))
        fire = np.lib.format.open_memmap(tmp / "fire.npy", mode="w+", dtype=np.uint8, shape=(offset,))
        iso = np.lib.format.open_memmap(tmp / "isochrones.npy", mode="w+", dtype=np.uint8, shape=(offset,))
        total = sum(2 * s.length for s in index.sequences)
        # Pillow releases the GIL while inflating PNGs, so threads decode in parallel.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool, \
                tqdm(total=total, unit="png", desc=f"caching {index.root.name}", disable=not progress) as bar:
            jobs = [pool.submit(_decode_into, seq, entry, fire, iso)
                    for seq, entry in zip(index.sequences, entries, strict=True)]
            try:
                for job in jobs:
                    bar.update(job.result())
            except BaseException:
                for job in jobs:  # a bad PNG stops the build now, not after decoding the rest
                    job.cancel()
                raise
        fire.flush()
        iso.flush()
        del fire, iso
        meta = {
            "version": CACHE_VERSION,
            "root": str(index.root.resolve()),
            "band_names": list(index.landscape.band_names),
            "band_stats": band_stats,
            "landscape_shape": [index.landscape.height, index.landscape.width],
            "skipped": list(index.skipped),
            "sequences": [{"seq_id": e.seq_id, "length": e.length, "window": list(e.window),
                           "offset": e.offset, "weather_offset": e.weather_offset} for e in entries],
        }
        (tmp / META_NAME).write_text(json.dumps(meta, indent=1))
        try:
            tmp.rename(final)  # atomic: readers never see a half-built cache
        except OSError:
            if not (final / META_NAME).is_file():  # not "another process built it first"
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def open_cache(index: SpreadsIndex, cache_dir: str | Path | None = None, progress: bool = True) -> SpreadsCache:
    """Reuse the cache for this exact source state, or build it (with a progress bar)."""
    base = Path(cache_dir).expanduser() if cache_dir else default_cache_root()
    path = base / fingerprint(index)
    if (path / META_NAME).is_file():
        return SpreadsCache(path)
    start = time.perf_counter()
    _build(index, path, progress)
    return SpreadsCache(path, built_s=time.perf_counter() - start)
