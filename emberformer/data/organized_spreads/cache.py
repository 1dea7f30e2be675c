"""Decode an organized_spreads folder once into memory-mapped arrays.

Decoding every PNG of every sample every epoch is what made the original pipeline slow. The
cache holds, per source fingerprint (paths + sizes + mtimes, so any edit rebuilds it):

```
<cache root>/<fingerprint>/
    meta.json        sequences (id, length, window, byte offsets, target fire pixels), band names and
                     stats, the warnings the build gave (said again on every reuse)
    landscape.npy    float32 [C, H, W] normalised static bands (whole landscape, cropped on the device)
    fire.bin         uint8: every sequence's fire frames, np.packbits along W, concatenated
    isochrones.bin   the same, only for sequences whose isochrones differ from their fire frames:
                     the real export and the embedded data hold the same masks in both folders,
                     and the cache keeps them once
    weather.npy      float32 [sum of lengths, 2] raw (WS, WD) per step
```
One flat file per kind (rather than one per sequence) keeps a DataLoader worker at a handful
of open memmaps however many sequences there are. The build streams: sequences are decoded a few
at a time and appended with plain writes, so its memory does not grow with the dataset. The cache
root is `cache_dir`, else $EMBERFORMER_CACHE, else ~/.cache/emberformer, so a read-only data
folder works.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from emberformer.data.caching import CACHE_ENV, default_cache_root, whole
from emberformer.data.caching import fingerprint as fingerprint_files
from emberformer.data.organized_spreads.features import normalise_static
from emberformer.data.organized_spreads.layout import FIRE_GREEN
from emberformer.data.organized_spreads.reader import (
    SequenceSource,
    SpreadsIndex,
    check_png_sizes,
    frame_colours,
    read_landscape,
    read_mask,
    read_weather,
)
from emberformer.errors import DataError
from emberformer.naming import id_ranges

CACHE_VERSION = 3
META_NAME = "meta.json"
ARRAYS = ("landscape", "weather")  # .npy files
MASKS = ("fire", "isochrones")  # .bin files of packed bits


def fingerprint(index: SpreadsIndex) -> str:
    """The source state this cache is keyed by (caching.fingerprint of every source file)."""
    return fingerprint_files(f"emberformer-spreads-cache v{CACHE_VERSION}", index.root, index.source_files())


@dataclass(frozen=True)
class CachedSequence:
    seq_id: int
    length: int
    window: tuple[int, int, int, int]
    offset: int  # byte offset into fire.bin
    weather_offset: int  # row offset into weather.npy
    target_pixels: int = 0  # fire pixels in the isochrones that are targets (steps 1..n-1)
    isochrones_offset: int | None = None  # byte offset into isochrones.bin; None: the same masks as fire

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
        self.sequences = tuple(CachedSequence(**{**s, "window": tuple(s["window"])}) for s in self.meta["sequences"])
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
            for kind in MASKS:  # np.memmap refuses an empty file (no isochrone differs from its frame)
                path = self.path / f"{kind}.bin"
                self._arrays[kind] = np.memmap(path, np.uint8, "r") if path.stat().st_size else np.empty(0, np.uint8)
        return self._arrays

    def position(self, seq_id: int) -> int:
        try:
            return self._position[int(seq_id)]
        except KeyError:
            raise DataError(f"{self.meta['root']}: no sequence {seq_id} in this dataset; its sequence ids are "
                            f"{id_ranges([s.seq_id for s in self.sequences])}") from None

    def packed(self, kind: str, pos: int, start: int, stop: int) -> np.ndarray:
        """uint8 [stop - start, H, ceil(W / 8)] frames of `kind` (fire | isochrones), bits packed
        along W as stored (a copy): what the DataLoader ships, 1/32 of the float32 masks."""
        seq = self.sequences[pos]
        h, fb = seq.shape[0], seq.frame_bytes
        if kind == "isochrones" and seq.isochrones_offset is not None:
            offset = seq.isochrones_offset
        else:
            kind, offset = "fire", seq.offset
        flat = self._open()[kind][offset + start * fb: offset + stop * fb]
        return np.array(flat.reshape(stop - start, h, fb // h))

    def unpacked(self, kind: str, pos: int, start: int, stop: int) -> np.ndarray:
        """uint8 {0, 1} [stop - start, H, W] frames of `kind` (fire | isochrones) of the sequence at `pos`."""
        return np.unpackbits(self.packed(kind, pos, start, stop), axis=-1, count=self.sequences[pos].shape[1])

    def fire(self, pos: int, start: int, stop: int) -> np.ndarray:
        return self.unpacked("fire", pos, start, stop)

    def isochrones(self, pos: int, start: int, stop: int) -> np.ndarray:
        return self.unpacked("isochrones", pos, start, stop)

    def landscape(self) -> np.ndarray:
        """float32 [C, H, W]: the whole normalised landscape (a copy), cropped per sample on the device."""
        return np.array(self._open()["landscape"])

    def static(self, pos: int) -> np.ndarray:
        """float32 [C, H, W] normalised landscape under the sequence's crop window (a copy)."""
        y0, y1, x0, x1 = self.sequences[pos].window
        return np.array(self._open()["landscape"][:, y0:y1, x0:x1])

    def weather(self, pos: int) -> np.ndarray:
        """float32 [length, 2] raw (WS, WD) of the sequence's steps."""
        seq = self.sequences[pos]
        return np.array(self._open()["weather"][seq.weather_offset: seq.weather_offset + seq.length])


def _decode(seq: SequenceSource) -> tuple[bytes, bytes | None, int, int]:
    """One sequence packed: (fire frames, isochrones or None when they hold the same masks, fire
    pixels in the frames, fire pixels in the target isochrones)."""
    frames = np.stack([read_mask(p, seq.shape) for p in seq.frames])
    isochrones = np.stack([read_mask(p, seq.shape) for p in seq.isochrones])
    same = np.array_equal(frames, isochrones)
    return (np.packbits(frames, axis=-1).tobytes(), None if same else np.packbits(isochrones, axis=-1).tobytes(),
            int(frames.sum(dtype=np.int64)), int(isochrones[1:].sum(dtype=np.int64)))


def _in_order(pool: ThreadPoolExecutor, fn, items, ahead: int):
    """`pool.map(fn, items)` with at most `ahead` results waiting: memory stays bounded however many
    items there are (Executor.map submits them all at once)."""
    pending: deque = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for job in pending:  # a bad PNG stops the build now, not after decoding the rest
            job.cancel()


def _check_some_fire(index: SpreadsIndex, frame_pixels: int) -> None:
    """Frames in another colour encoding decode as "no fire" everywhere, and a model trained on them
    reaches F1 = 0 and reports success: refuse them, showing what the frames hold."""
    if frame_pixels:
        return
    # The last frame of a sequence holds the most burned area.
    sample = [seq.frames[-1] for seq in index.sequences[:8]]
    colours = ", ".join(f"{colour} {share:.1%}" for colour, share in frame_colours(sample))
    raise DataError(f"{index.root}: no fire pixel in any of the {sum(s.length for s in index.sequences)} fire "
                    f"frames: the reader takes a pixel as fire where its green channel is {FIRE_GREEN}, and the "
                    f"last frames of {len(sample)} sequences hold only the colours (RGBA) {colours}; re-export the "
                    f"frames with fire in such a colour (e.g. RGB (255, {FIRE_GREEN}, 0))")


def _build(index: SpreadsIndex, final: Path, progress: bool) -> None:
    # Everything cheap that can fail goes first, so bad input is reported before the long decode.
    bands, valid = read_landscape(index.landscape.path)
    landscape, band_stats = normalise_static(bands, valid)
    with warnings.catch_warnings(record=True) as caught:  # kept in meta.json, said again on every reuse
        warnings.simplefilter("always")
        weather = [read_weather(seq.weather, seq.length) for seq in index.sequences]
    notes = [str(w.message) for w in caught]
    _say(notes)
    for seq in index.sequences:
        check_png_sizes(seq)

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
        entries, frame_pixels, row = [], 0, 0
        workers = os.cpu_count() or 1
        # Pillow releases the GIL while inflating PNGs, so threads decode in parallel.
        with ThreadPoolExecutor(max_workers=workers) as pool, open(tmp / "fire.bin", "wb") as fire, \
                open(tmp / "isochrones.bin", "wb") as isochrones, \
                tqdm(total=sum(2 * s.length for s in index.sequences), unit="png",
                     desc=f"caching {index.root.name}", disable=not progress) as bar:
            for seq, (fire_bytes, iso_bytes, seq_frame_pixels, target_pixels) in zip(
                    index.sequences, _in_order(pool, _decode, index.sequences, ahead=2 * workers), strict=True):
                entries.append(CachedSequence(seq.seq_id, seq.length, seq.window, fire.tell(), row, target_pixels,
                                              None if iso_bytes is None else isochrones.tell()))
                fire.write(fire_bytes)
                if iso_bytes is not None:
                    isochrones.write(iso_bytes)
                frame_pixels += seq_frame_pixels
                row += seq.length
                bar.update(2 * seq.length)
        _check_some_fire(index, frame_pixels)
        meta = {
            "version": CACHE_VERSION,
            "root": str(index.root.resolve()),
            "band_names": list(index.landscape.band_names),
            "band_stats": band_stats,
            "landscape_shape": [index.landscape.height, index.landscape.width],
            "skipped": list(index.skipped),
            "warnings": notes,
            "sequences": [dataclasses.asdict(e) for e in entries],
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


def _say(notes: list[str]) -> None:
    for note in notes:
        warnings.warn(note, stacklevel=3)


def damage(path: Path) -> str | None:
    """What is wrong with a built cache folder (a file cut short by a full disk or a killed copy,
    one missing or unreadable), measured against its own meta.json; None when it is whole."""
    try:
        meta = json.loads((path / META_NAME).read_text())
        sequences = [CachedSequence(**{**s, "window": tuple(s["window"])}) for s in meta["sequences"]]
        expected = {
            "landscape": (len(meta["band_names"]), *meta["landscape_shape"]),
            "weather": (sum(s.length for s in sequences), 2),
        }
        for name, shape in expected.items():
            array = np.load(path / f"{name}.npy", mmap_mode="r")
            if array.shape != shape:
                return f"{name}.npy holds an array of shape {array.shape}, its meta.json says {shape}"
        sizes = {"fire": sum(s.length * s.frame_bytes for s in sequences),
                 "isochrones": sum(s.length * s.frame_bytes for s in sequences if s.isochrones_offset is not None)}
        for kind, size in sizes.items():
            held = (path / f"{kind}.bin").stat().st_size
            if held != size:
                return f"{kind}.bin holds {held:,} bytes, its meta.json says {size:,}"
    except (OSError, ValueError, KeyError, TypeError) as err:  # a file missing, cut inside its header, ...
        return f"{type(err).__name__}: {' '.join(str(err).split())}"
    return None


def open_cache(index: SpreadsIndex, cache_dir: str | Path | None = None, progress: bool = True) -> SpreadsCache:
    """Reuse the cache for this exact source state, or build it (with a progress bar); a damaged
    one is said so and rebuilt."""
    base = Path(cache_dir).expanduser() if cache_dir else default_cache_root()
    path = base / fingerprint(index)
    if whole(path, META_NAME, damage):
        cache = SpreadsCache(path)
        _say(cache.meta["warnings"])
        return cache
    start = time.perf_counter()
    _build(index, path, progress)
    return SpreadsCache(path, built_s=time.perf_counter() - start)
