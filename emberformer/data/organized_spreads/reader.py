"""Reading an `organized_spreads` folder (layout.py): check, list, decode.

`scan_spreads` checks the structure cheaply (folders, headers, ids, windows) and returns a
`SpreadsIndex`; `read_landscape`, `read_weather`, `check_png_sizes` and `read_mask` do the heavier
per-file reads (the cache calls them once per file). Every malformed input raises a one-line
`DataError` that names the file and the fix.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
from PIL import Image

from emberformer.data.organized_spreads.layout import (
    FIRE_GREEN,
    FRAMES_DIR,
    GEOTIFF_NAME,
    INDICES_NAME,
    ISOCHRONES_DIR,
    LANDSCAPE_DIR,
    METADATA_NAME,
    NODATA,
    WEATHER_HISTORY_NAME,
    WEATHERS_DIR,
)
from emberformer.errors import DataError
from emberformer.naming import natural_key

SEQUENCE_DIR_RE = re.compile(r"^sequence_(\d+)$")
LAYOUT_HINT = "see the layout in emberformer/data/organized_spreads/layout.py"


@dataclass(frozen=True)
class LandscapeInfo:
    path: Path
    height: int
    width: int
    band_names: tuple[str, ...]


@dataclass(frozen=True)
class SequenceSource:
    """Where one sequence's files are; nothing decoded yet."""

    seq_id: int
    window: tuple[int, int, int, int]  # y0, y1, x0, x1, end-exclusive
    frames: tuple[Path, ...]
    isochrones: tuple[Path, ...]
    weather: Path

    @property
    def length(self) -> int:
        return len(self.frames)

    @property
    def shape(self) -> tuple[int, int]:
        y0, y1, x0, x1 = self.window
        return y1 - y0, x1 - x0


@dataclass(frozen=True)
class SpreadsIndex:
    root: Path
    landscape: LandscapeInfo
    sequences: tuple[SequenceSource, ...]
    skipped: tuple[int, ...] = ()  # single-frame sequences: no next step to predict

    def source_files(self) -> list[Path]:
        """Every file the cache is built from, in a stable order."""
        land = self.root / LANDSCAPE_DIR
        files = [self.landscape.path, land / INDICES_NAME, land / WEATHER_HISTORY_NAME]
        for seq in self.sequences:
            files += [seq.weather, *seq.frames, *seq.isochrones]
        return files


def read_metadata(root: str | Path) -> dict:
    """The folder's `dataset.json` (layout.write_metadata), or {} when it has none."""
    path = Path(root) / METADATA_NAME
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: unreadable ({_one_line(err)}); regenerate the dataset or delete the file") from err
    if not isinstance(record, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(record).__name__}; regenerate the dataset "
                        "or delete the file")
    return record


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _require(path: Path, what: str, is_dir: bool) -> Path:
    if not (path.is_dir() if is_dir else path.is_file()):
        kind = "folder" if is_dir else "file"
        raise DataError(f"{path}: missing {what} {kind}; an organized_spreads root needs "
                        f"landscape/{{{GEOTIFF_NAME},{INDICES_NAME},{WEATHER_HISTORY_NAME},{WEATHERS_DIR}/}}, "
                        f"{FRAMES_DIR}/ and {ISOCHRONES_DIR}/ ({LAYOUT_HINT})")
    return path


def _band_names(src) -> tuple[str, ...]:
    return tuple(d.strip() if d and d.strip() else f"band_{i}" for i, d in enumerate(src.descriptions, start=1))


def read_landscape_info(path: Path) -> LandscapeInfo:
    """GeoTIFF header only: size and band names (descriptions, falling back to band_<i>)."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            return LandscapeInfo(Path(path), src.height, src.width, _band_names(src))
    except rasterio.errors.RasterioError as err:
        raise DataError(f"{path}: unreadable GeoTIFF ({_one_line(err)}); re-export the landscape "
                        "as a multi-band GeoTIFF") from err


def read_landscape(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """All bands as float32 [C, H, W] and the validity mask (not nodata, finite)."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            bands = src.read(out_dtype="float32")
            nodata = [NODATA if v is None else v for v in src.nodatavals]
            names = _band_names(src)
    except rasterio.errors.RasterioError as err:
        # rasterio's read error says "see previous exception"; the GDAL cause is the useful part.
        raise DataError(f"{path}: unreadable or truncated GeoTIFF ({_one_line(err.__cause__ or err)}); "
                        "re-export the landscape") from err
    # -9999 is the layout's nodata even when a file declares another value.
    declared = np.asarray(nodata, dtype=np.float32)[:, None, None]
    valid = np.isfinite(bands) & (bands != declared) & (bands != np.float32(NODATA))
    empty = np.flatnonzero(~valid.any(axis=(1, 2)))
    if empty.size:
        c = int(empty[0])
        raise DataError(f"{path}: band {c + 1} ({names[c]}) is entirely nodata; fix the export "
                        "or drop that band from the GeoTIFF")
    return bands, valid


def read_indices(path: Path) -> dict[int, tuple[int, int, int, int]]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({_one_line(err)}); expected "
                        '{"<sequence id>": [y0, y1, x0, x1], ...}') from err
    if not isinstance(raw, dict):
        raise DataError(f'{path}: expected a JSON object {{"<sequence id>": [y0, y1, x0, x1]}}, '
                        f"got {type(raw).__name__}")
    windows = {}
    for key, value in raw.items():
        ok_key = str(key).strip().isdigit()
        ok_value = (isinstance(value, list) and len(value) == 4
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in value))
        if not (ok_key and ok_value):
            raise DataError(f"{path}: entry {key!r}: {value!r} is not \"<sequence id>\": "
                            "[y0, y1, x0, x1] with integer pixel bounds")
        windows[int(key)] = tuple(value)
    return windows


def weather_candidates(land: Path, line: str) -> list[Path]:
    """Where a WeatherHistory.csv line may point, in order: the path relative to landscape/; then,
    since the real export writes absolute paths of the machine that ran the simulations
    (/home/<user>/.../Weathers/Weather12.csv or C:\\Users\\...\\Weathers\\Weather12.csv), the part
    after the last `Weathers` component, then the bare file name, each under landscape/Weathers/.
    An absolute path is never read as written: the dataset's own copy is the one it was made with."""
    parts = [p for p in re.split(r"[\\/]", line) if p]
    absolute = PurePosixPath(line).is_absolute() or PureWindowsPath(line).is_absolute()
    candidates = [] if absolute else [land / line.replace("\\", "/")]
    folders = [i for i, p in enumerate(parts) if p.lower() == WEATHERS_DIR.lower()]
    if folders and folders[-1] + 1 < len(parts):
        candidates.append(land / WEATHERS_DIR / Path(*parts[folders[-1] + 1:]))
    if parts:
        candidates.append(land / WEATHERS_DIR / parts[-1])
    return list(dict.fromkeys(candidates))  # drop repeats, keep the order


def read_weather(path: Path, steps: int) -> np.ndarray:
    """The first `steps` rows of (WS, WD) as float32 [steps, 2]."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()  # tolerate a spreadsheet BOM
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: unreadable weather file ({_one_line(err)})") from err
    rows = [(no, row) for no, row in enumerate(csv.reader(lines), start=1) if any(c.strip() for c in row)]
    if not rows:
        raise DataError(f"{path}: empty weather file; it needs a header with WS and WD and one row per step")
    header = [c.strip().upper() for c in rows[0][1]]
    missing = [c for c in ("WS", "WD") if c not in header]
    if missing:
        raise DataError(f"{path}: no {' or '.join(missing)} column (header: {','.join(rows[0][1])}); "
                        "weather files need WS (wind speed) and WD (wind direction, degrees) columns")
    cols = [header.index("WS"), header.index("WD")]
    values = np.empty((len(rows) - 1, 2), dtype=np.float64)
    for r, (no, row) in enumerate(rows[1:]):
        for k, (name, c) in enumerate(zip(("WS", "WD"), cols, strict=True)):
            cell = row[c].strip() if c < len(row) else ""
            try:
                values[r, k] = float(cell)
            except ValueError:
                raise DataError(f"{path}: line {no}: {name} value {cell!r} is not a number; "
                                "fix or remove that row") from None
            if not math.isfinite(values[r, k]):
                raise DataError(f"{path}: line {no}: {name} is {cell}; every step needs a finite value")
    if len(values) < steps:
        raise DataError(f"{path}: {len(values)} weather rows but the sequence has {steps} steps; "
                        "add one row per step")
    return _checked_wind(path, values[:steps], [no for no, _ in rows[1:steps + 1]]).astype(np.float32)


# Above this, a 10 m wind speed (km/h) is more likely a unit or column mix-up than weather: the
# strongest hurricanes sustain ~300 km/h, wildfire weather rarely exceeds 100.
MAX_PLAUSIBLE_WIND_KMH = 150.0


def _checked_wind(path: Path, values: np.ndarray, line_numbers: list[int]) -> np.ndarray:
    """Refuse a negative speed; wrap directions into [0, 360) and flag absurd speeds, saying so."""
    speed, direction = values[:, 0], values[:, 1]
    negative = np.flatnonzero(speed < 0)
    if negative.size:
        r = int(negative[0])
        raise DataError(f"{path}: line {line_numbers[r]}: WS is {speed[r]:g}, a negative wind speed; "
                        "speeds are km/h >= 0 (the direction goes in WD)")
    outside = np.flatnonzero((direction < 0) | (direction > 360))
    if outside.size:
        r = int(outside[0])
        wrapped = direction % 360.0
        warnings.warn(f"{path}: {outside.size} WD value(s) outside [0, 360] (first: line {line_numbers[r]}, "
                      f"{direction[r]:g}); wrapped modulo 360 (to {wrapped[r]:g})", stacklevel=3)
        values = np.stack([speed, wrapped], axis=1)
    absurd = np.flatnonzero(speed > MAX_PLAUSIBLE_WIND_KMH)
    if absurd.size:
        r = int(absurd[0])
        warnings.warn(f"{path}: {absurd.size} WS value(s) above {MAX_PLAUSIBLE_WIND_KMH:g} km/h (first: line "
                      f"{line_numbers[r]}, {speed[r]:g}); used as given — check the unit (km/h) and the column",
                      stacklevel=3)
    return values


def _png_files(folder: Path) -> tuple[Path, ...]:
    # scandir knows each entry's type without a stat call: ~130K frames list in about a second.
    with os.scandir(folder) as entries:
        names = [e.name for e in entries if e.name.lower().endswith(".png") and e.is_file()]
    return tuple(folder / name for name in sorted(names, key=natural_key))


def _sequence_dirs(parent: Path) -> dict[int, Path]:
    """sequence_<id> folders by id; other folders and links that lead nowhere are named in a warning."""
    found: dict[int, Path] = {}
    unnamed, dead_links = [], []
    for entry in sorted(parent.iterdir(), key=natural_key):
        if entry.name.startswith("."):
            continue  # hidden tool folders (.ipynb_checkpoints, ...)
        m = SEQUENCE_DIR_RE.match(entry.name)
        if entry.is_symlink() and not entry.exists():  # a loop or a missing target: is_dir() is False
            dead_links.append(entry.name)
        elif m and entry.is_dir():
            seq_id = int(m.group(1))
            if seq_id in found:
                raise DataError(f"{entry}: same sequence id {seq_id} as {found[seq_id]}; keep one of them")
            found[seq_id] = entry
        elif entry.is_dir():
            unnamed.append(entry.name)
    if unnamed:
        warnings.warn(f"{parent}: skipped {len(unnamed)} folder(s) without a sequence id in the name "
                      f"{unnamed[:10]}; rename them sequence_<id> to use them", stacklevel=3)
    if dead_links:
        warnings.warn(f"{parent}: skipped {len(dead_links)} link(s) that loop or lead nowhere {dead_links[:10]}; "
                      "point them at a sequence folder", stacklevel=3)
    return found


def scan_spreads(root: str | Path, max_sequences: int | None = None) -> SpreadsIndex:
    """Check the folder structure and headers (no pixel decoding) and list every sequence.

    Single-frame sequences are skipped with one warning; `max_sequences` keeps the first N
    usable sequences (by id) and validates only those.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: data root does not exist or is not a folder; point data.root at an "
                        f"organized_spreads folder (landscape/, {FRAMES_DIR}/, {ISOCHRONES_DIR}/)")
    land = _require(root / LANDSCAPE_DIR, "landscape", is_dir=True)
    frames_root = _require(root / FRAMES_DIR, FRAMES_DIR, is_dir=True)
    iso_root = _require(root / ISOCHRONES_DIR, ISOCHRONES_DIR, is_dir=True)
    info = read_landscape_info(_require(land / GEOTIFF_NAME, "landscape GeoTIFF", is_dir=False))
    indices_path = _require(land / INDICES_NAME, "crop-window index", is_dir=False)
    windows = read_indices(indices_path)
    history_path = _require(land / WEATHER_HISTORY_NAME, "weather history", is_dir=False)
    try:
        history = [line.strip().strip('"') for line in history_path.read_text(encoding="utf-8-sig").splitlines()]
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{history_path}: unreadable ({_one_line(err)}); it must be text, one weather "
                        "file name per line") from err
    _require(land / WEATHERS_DIR, "weather", is_dir=True)

    frame_dirs, iso_dirs = _sequence_dirs(frames_root), _sequence_dirs(iso_root)
    if not frame_dirs:
        raise DataError(f"{frames_root}: no sequence_NNN folders; each fire needs "
                        f"{FRAMES_DIR}/sequence_NNN/*.png ({LAYOUT_HINT})")
    sequences, skipped = [], []
    for seq_id in sorted(frame_dirs):
        if max_sequences is not None and len(sequences) >= max_sequences:
            break
        fdir = frame_dirs[seq_id]
        frames = _png_files(fdir)
        if not frames:
            raise DataError(f"{fdir}: no PNG frames; add the sequence's frames or remove the folder")
        idir = iso_dirs.get(seq_id)
        if idir is None:
            raise DataError(f"{iso_root / fdir.name}: missing isochrone folder for {fdir}; "
                            "every fire_frames sequence needs a matching isochrones sequence")
        isochrones = _png_files(idir)
        if len(isochrones) != len(frames):
            raise DataError(f"{idir}: {len(isochrones)} isochrones but {fdir} has {len(frames)} frames; "
                            "each step needs one fire frame and one isochrone")
        if len(frames) == 1:
            skipped.append(seq_id)
            continue
        window = windows.get(seq_id)
        if window is None:
            raise DataError(f"{indices_path}: no crop window for sequence {seq_id} ({fdir}); "
                            f'add "{seq_id}": [y0, y1, x0, x1]')
        y0, y1, x0, x1 = window
        if not (0 <= y0 < y1 <= info.height and 0 <= x0 < x1 <= info.width):
            raise DataError(f"{indices_path}: window {list(window)} of sequence {seq_id} is outside the "
                            f"{info.height}x{info.width} landscape {info.path.name} (or empty); "
                            "fix it to 0 <= y0 < y1 <= H, 0 <= x0 < x1 <= W")
        if seq_id > len(history) or not history[seq_id - 1]:
            raise DataError(f"{history_path}: no weather file on line {seq_id} for sequence {seq_id} "
                            f"({len(history)} lines); line i must name sequence i's weather file")
        candidates = weather_candidates(land, history[seq_id - 1])
        weather = next((path for path in candidates if path.is_file()), None)
        if weather is None:
            raise DataError(f"{history_path}: line {seq_id} names {history[seq_id - 1]}, which is none of "
                            f"{', '.join(map(str, candidates))}; put the file under {land / WEATHERS_DIR} "
                            "or fix the line")
        sequences.append(SequenceSource(seq_id, window, frames, isochrones, weather))
    if skipped:
        warnings.warn(f"{frames_root}: skipped {len(skipped)} single-frame sequence(s) "
                      f"{skipped[:10]}: a sample needs at least 2 frames", stacklevel=2)
    if not sequences:
        raise DataError(f"{frames_root}: no sequence with at least 2 frames; nothing to train on")
    return SpreadsIndex(root, info, tuple(sequences), tuple(skipped))


# PNG modes whose pixels the fire rule (green channel == FIRE_GREEN) reads: true colour, and palette
# images through their palette. A grey-scale or 16-bit frame holds no green channel, so the rule
# would read it as "no fire" everywhere: such frames are refused instead.
FRAME_MODES = ("RGB", "RGBA", "P", "PA")


def _check_frame(im: Image.Image, path: Path, shape: tuple[int, int] | None, seq_id: int | None = None) -> None:
    if im.mode not in FRAME_MODES:
        raise DataError(f"{path}: a {im.mode} PNG, but frames must be RGB, RGBA or palette images with fire "
                        f"where green == {FIRE_GREEN}; re-export it in colour")
    if shape is not None and im.size != (shape[1], shape[0]):
        owner = f"sequence {seq_id}'s crop window" if seq_id is not None else "the crop window"
        raise DataError(f"{path}: image is {im.width}x{im.height} (WxH) but {owner} is {shape[1]}x{shape[0]}; "
                        "re-export the image or fix indices.json")


def check_png_sizes(seq: SequenceSource) -> None:
    """Header-only check that every PNG opens, holds colours the fire rule reads, and matches the crop window."""
    for path in (*seq.frames, *seq.isochrones):
        try:
            with Image.open(path) as im:
                _check_frame(im, path, seq.shape, seq.seq_id)
        except (OSError, SyntaxError, ValueError) as err:
            raise DataError(f"{path}: not a readable PNG ({_one_line(err)}); re-export it") from err


def read_mask(path: Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Decode one frame: bool [H, W], True where the green channel is FIRE_GREEN."""
    try:
        with Image.open(path) as im:
            _check_frame(im, path, shape)
            green = im.getchannel("G") if im.mode in ("RGB", "RGBA") else im.convert("RGB").getchannel("G")
            return np.asarray(green) == FIRE_GREEN
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise DataError(f"{path}: corrupt PNG ({_one_line(err)}); re-export it") from err


def frame_colours(paths: list[Path], top: int = 4) -> list[tuple[tuple[int, ...], float]]:
    """The most common colours (RGBA) over `paths` and their share of the pixels: what a frame
    encoding looks like, for the error that says none of it reads as fire."""
    counts: dict[tuple[int, ...], int] = {}
    total = 0
    for path in paths:
        with Image.open(path) as im:
            for count, colour in im.convert("RGBA").getcolors(maxcolors=1 << 24):
                counts[colour] = counts.get(colour, 0) + count
                total += count
    ranked = sorted(counts.items(), key=lambda item: -item[1])[:top]
    return [(colour, count / total) for colour, count in ranked]
