"""Every fire of a WildfireSpreadTS root decoded once into one memory-mapped file, compact and lossless.

```
<cache root>/wsts-<fingerprint>/
    meta.json     the fires (year, id, dates, size, grid), each band's chunk (codec, offset, shape), per
                  chunk the sums the per-fold statistics are made of, the warnings the build gave
    values.bin    the chunks back to back, one per (fire, band): (days, H, W), or (H, W) for a band that
                  is the same on every day of the fire (terrain, land cover)
```
Each chunk is stored in the smallest type that gives back exactly its float32 values (NaN included),
chosen from the chunk itself (`Codec`): uint8 or int16 codes of integers or of multiples of 1/2,
1/10 or 1/100; or uint8/uint16 indices into the chunk's own palette of distinct values (weather at
4 km and forecasts at 0.25 degrees repeat one value over many 375 m pixels); else float32. Decoding
is checked against the values when written. The
build reads one fire at a time (memory: one fire's days), the sources are fingerprinted (paths, sizes,
mtimes), and a cache whose file was cut short is named and rebuilt, like the organized_spreads cache.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from emberformer.data.caching import CACHE_ENV, default_cache_root, whole
from emberformer.data.caching import fingerprint as fingerprint_files
from emberformer.data.wildfirespreadts.bands import ACTIVE_FIRE, BANDS
from emberformer.data.wildfirespreadts.reader import WstsIndex, georeference, read_fire
from emberformer.errors import DataError

CACHE_VERSION = 1
META_NAME, VALUES_NAME = "meta.json", "values.bin"
# (dtype, smallest code, largest code, the code that stands for NaN), smallest first.
INTEGER_TYPES = (("uint8", 0, 254, 255), ("int16", -32767, 32767, -32768))
SCALES = (1, 2, 10, 100)
PALETTE_TYPES = (("uint8", 256), ("uint16", 65536))  # (dtype, most distinct values, NaN included)
ALIGN = 8


@dataclass(frozen=True)
class Codec:
    """How a chunk's float32 values are stored: `dtype` codes that are the value x `scale` (integers,
    `nan_code` for NaN), or indices into a palette of the chunk's distinct values (stored before the
    codes in values.bin: `palette_size` float32), or the float32 values themselves."""

    dtype: str                # uint8 | int16 | uint16 | float32 | empty (all NaN: nothing stored)
    scale: int = 1
    nan_code: int | None = None  # integer codes: the code of NaN, None when the chunk holds no NaN
    palette_size: int = 0

    def encode(self, values: np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
        if self.dtype in ("float32", "empty"):
            return values.astype(np.float32)
        if self.palette_size:
            return np.searchsorted(_bits(palette), _bits(values)).astype(self.dtype)
        codes = np.round(np.nan_to_num(values, nan=0.0).astype(np.float64) * self.scale)
        if self.nan_code is not None:
            codes[np.isnan(values)] = self.nan_code
        return codes.astype(self.dtype)

    def decode(self, codes: np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
        """float32 values of `codes` (any view of a chunk's codes). The training batches leave the
        workers as codes and are decoded on the device (features.decode) the same way."""
        if self.palette_size:  # "clip": codes index the palette by construction, and it is faster
            return np.take(palette, np.ascontiguousarray(codes), mode="clip")
        out = np.empty(codes.shape, dtype=np.float32)
        np.copyto(out, codes, casting="unsafe")
        if self.dtype == "float32":
            return out
        if self.scale != 1:
            out /= np.float32(self.scale)
        if self.nan_code is not None:
            np.copyto(out, np.float32(np.nan), where=codes == self.nan_code)
        return out

    @property
    def itemsize(self) -> int:
        return 0 if self.dtype == "empty" else np.dtype(self.dtype).itemsize


def _bits(values: np.ndarray) -> np.ndarray:
    """float32 values as sortable integers, every NaN the same one (palettes are sorted by these)."""
    canonical = np.where(np.isnan(values), np.float32(np.nan), values).astype(np.float32)
    return canonical.view(np.uint32)


def choose_codec(values: np.ndarray) -> tuple[Codec, np.ndarray | None]:
    """The smallest codec that gives back exactly `values` (float32, NaN allowed), and its palette."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Codec("empty"), None
    low, high = float(finite.min()), float(finite.max())

    def exact(codec: Codec, palette=None) -> bool:
        return np.array_equal(codec.decode(codec.encode(values, palette), palette), values, equal_nan=True)

    has_nan = finite.size < values.size
    candidates = [Codec(dtype, scale, nan_code if has_nan else None) for dtype, lowest, highest, nan_code
                  in INTEGER_TYPES for scale in SCALES if lowest - 0.5 <= low * scale and high * scale <= highest + 0.5]
    for codec in candidates:  # one byte
        if codec.itemsize == 1 and exact(codec):
            return codec, None
    bits = np.unique(_bits(values))
    palette = bits.view(np.float32)
    palettes = [Codec(dtype, palette_size=len(palette)) for dtype, most in PALETTE_TYPES if len(palette) <= most]
    for codec in palettes:  # one byte
        if codec.itemsize == 1 and exact(codec, palette):
            return codec, palette
    for codec in candidates:  # two bytes, the value itself before a palette lookup
        if codec.itemsize == 2 and exact(codec):
            return codec, None
    for codec in palettes:
        if codec.itemsize == 2 and exact(codec, palette):
            return codec, palette
    return Codec("float32"), None


@dataclass(frozen=True)
class Chunk:
    """One band of one fire in values.bin: its palette (if any) at `offset`, then its codes."""

    codec: Codec
    offset: int
    shape: tuple[int, ...]   # (days, H, W) or (H, W)
    sums: tuple[float, float, float]  # count, sum, sum of squares of the finite values (hours for the active fire)


@dataclass(frozen=True)
class CachedFire:
    year: int
    fire_id: int
    dates: tuple[str, ...]
    height: int
    width: int
    crs: str
    transform: tuple[float, ...]
    chunks: tuple[Chunk, ...]  # one per band, in band order


def fingerprint(index: WstsIndex) -> str:
    """The source state this cache is keyed by (caching.fingerprint of every source file)."""
    return "wsts-" + fingerprint_files(f"emberformer-wildfirespreadts-cache v{CACHE_VERSION}", index.root,
                                       index.source_files())


def detection_hours(hhmm: np.ndarray) -> np.ndarray:
    """VIIRS detection times hhmm -> hours of the day (NaN where none)."""
    return np.floor(hhmm / 100) + np.mod(hhmm, 100) / 60


class WstsCache:
    """Read side of a built cache: chunks decoded on request from one memmap (opened once per process)."""

    def __init__(self, path: Path, built_s: float | None = None):
        self.path = Path(path)
        self.meta = json.loads((self.path / META_NAME).read_text())
        self.fires = tuple(_fire_from_json(f) for f in self.meta["fires"])
        self.built_s = built_s
        self._values: np.ndarray | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_values": None}  # each DataLoader worker opens its own memmap

    def _chunk(self, chunk: Chunk) -> np.ndarray:
        if self._values is None:
            path = self.path / VALUES_NAME
            self._values = np.memmap(path, np.uint8, "r") if path.stat().st_size else np.empty(0, np.uint8)
        codec = chunk.codec
        if codec.dtype == "empty":
            return np.full(chunk.shape, np.nan, dtype=np.float32), None
        palette = None
        offset = chunk.offset
        if codec.palette_size:
            palette = np.frombuffer(self._values, dtype=np.float32, count=codec.palette_size, offset=offset)
            offset += _aligned(4 * codec.palette_size)
        count = int(np.prod(chunk.shape))
        return np.frombuffer(self._values, dtype=codec.dtype, count=count, offset=offset).reshape(chunk.shape), palette

    def codes(self, fire: int, band: int, days: slice, rows: slice, cols: slice, orient=None):
        """(codes [len(days), h, w] as stored (a view; a static band repeats), codec, palette or None) of a
        band of the fire at position `fire`, `orient` (flips and turns, as views) applied."""
        chunk = self.fires[fire].chunks[band]
        codes, palette = self._chunk(chunk)
        n = len(range(*days.indices(len(self.fires[fire].dates))))
        codes = codes[None, rows, cols] if len(chunk.shape) == 2 else codes[days, rows, cols]
        if orient is not None:
            codes = orient(codes)
        return np.broadcast_to(codes, (n, *codes.shape[1:])), chunk.codec, palette

    def read(self, fire: int, band: int, days: slice, rows: slice, cols: slice, orient=None) -> np.ndarray:
        """float32 [len(days), h, w]: `codes(...)` decoded."""
        codes, codec, palette = self.codes(fire, band, days, rows, cols, orient)
        return codec.decode(codes, palette)

    def summed_hours(self, fire: int, days: slice) -> np.ndarray:
        """[H, W]: the active fire's detection hours (hhmm // 100, 0 where none) summed over `days`."""
        chunk = self.fires[fire].chunks[ACTIVE_FIRE]
        codec = chunk.codec
        if codec.dtype == "empty":
            return np.zeros((self.fires[fire].height, self.fires[fire].width), dtype=np.float32)
        codes, palette = self._chunk(chunk)
        codes = codes[days]
        if codec.palette_size:  # each palette entry's hour, looked up
            table = np.nan_to_num(np.floor_divide(palette, 100), nan=0.0).clip(min=0).astype(np.float32)
            return np.take(table, codes, mode="clip").sum(0)
        if codec.dtype != "float32" and codec.scale == 1:  # integer hhmm: no decoding needed
            return (np.maximum(codes, 0) // 100).sum(0, dtype=np.int32)
        return np.nan_to_num(np.floor_divide(codec.decode(codes), 100), nan=0.0).clip(min=0).sum(0)

    @property
    def angle_range(self) -> float:
        """The largest |forecast wind direction| in the data: <= 90 for the release's atan."""
        return float(self.meta["forecast_wind_dir_max_abs"])


def _fire_from_json(record: dict) -> CachedFire:
    chunks = tuple(Chunk(Codec(**c["codec"]), c["offset"], tuple(c["shape"]), tuple(c["sums"]))
                   for c in record["chunks"])
    return CachedFire(record["year"], record["fire_id"], tuple(record["dates"]), record["height"], record["width"],
                      record["crs"], tuple(record["transform"]), chunks)


def _aligned(size: int) -> int:
    return size + (-size % ALIGN)


def _sums(values: np.ndarray) -> tuple[float, float, float]:
    finite = values[np.isfinite(values)].astype(np.float64)
    return float(finite.size), float(finite.sum()), float(np.square(finite).sum())


def _build(index: WstsIndex, final: Path, progress: bool) -> None:
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        tmp.chmod(0o755)
    except OSError as err:
        raise DataError(f"{final.parent}: can't create the cache there ({err.strerror}); set data.cache_dir "
                        f"or ${CACHE_ENV} to a writable folder") from err
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fires, angle = [], 0.0
            with open(tmp / VALUES_NAME, "wb") as out, tqdm(index.fires, desc=f"caching {index.root.name}",
                                                            unit="fire", disable=not progress) as bar:
                for source in bar:
                    days = read_fire(source)
                    chunks = []
                    for band in BANDS:
                        values = days[:, band.index]
                        if band.static and all(np.array_equal(v, values[0], equal_nan=True) for v in values[1:]):
                            values = values[0]
                        codec, palette = choose_codec(values)
                        out.write(b"\0" * (_aligned(out.tell()) - out.tell()))
                        offset = out.tell()
                        if palette is not None:
                            out.write(palette.tobytes() + b"\0" * (_aligned(palette.nbytes) - palette.nbytes))
                        if codec.dtype != "empty":
                            out.write(np.ascontiguousarray(codec.encode(values, palette)).tobytes())
                        sums = _sums(detection_hours(values) if band.index == ACTIVE_FIRE else values)
                        chunks.append(Chunk(codec, offset, values.shape, sums))
                    angle = max(angle, float(np.nanmax(np.abs(days[:, 19]), initial=0.0)))
                    crs, transform = georeference(source)
                    fires.append(CachedFire(source.year, source.fire_id, tuple(d.isoformat() for d in source.dates),
                                            source.height, source.width, crs, transform, tuple(chunks)))
        notes = [str(w.message) for w in caught]
        meta = {"version": CACHE_VERSION, "root": str(index.root.resolve()), "form": index.form,
                "forecast_wind_dir_max_abs": angle, "warnings": notes,
                "fires": [asdict(f) for f in fires]}
        (tmp / META_NAME).write_text(json.dumps(meta))
        try:
            tmp.rename(final)
        except OSError:
            if not (final / META_NAME).is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def damage(path: Path) -> str | None:
    """What is wrong with a built cache (values.bin cut short or gone), from its own meta.json; None if whole."""
    try:
        meta = json.loads((path / META_NAME).read_text())
        end = max((c["offset"] + _aligned(4 * c["codec"]["palette_size"])
                   + int(np.prod(c["shape"])) * Codec(**c["codec"]).itemsize
                   for f in meta["fires"] for c in f["chunks"]), default=0)
        held = (path / VALUES_NAME).stat().st_size
        if held < end:
            return f"{VALUES_NAME} holds {held:,} bytes, its meta.json says {end:,}"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"{type(err).__name__}: {' '.join(str(err).split())}"
    return None


def open_cache(index: WstsIndex, cache_dir: str | Path | None = None, progress: bool = True) -> WstsCache:
    """Reuse the cache of this exact source state, or build it; a damaged one is said so and rebuilt.
    The warnings of the build (missing days, ...) are said again on every reuse."""
    base = Path(cache_dir).expanduser() if cache_dir else default_cache_root()
    path = base / fingerprint(index)
    if whole(path, META_NAME, damage):
        cache = WstsCache(path)
    else:
        start = time.perf_counter()
        _build(index, path, progress)
        cache = WstsCache(path, built_s=time.perf_counter() - start)
    for note in cache.meta["warnings"]:
        warnings.warn(note, stacklevel=2)
    return cache
