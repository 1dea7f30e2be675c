"""What the data families' caches share: where caches live, the fingerprint of the source files a
cache was built from, and moving a damaged cache out of the way."""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from collections.abc import Iterable
from pathlib import Path

CACHE_ENV = "EMBERFORMER_CACHE"


def default_cache_root() -> Path:
    """$EMBERFORMER_CACHE, else $XDG_CACHE_HOME/emberformer, else ~/.cache/emberformer."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "emberformer"


def fingerprint(format_tag: str, root: Path, files: Iterable[Path]) -> str:
    """Hash of the cache format and every source file's path relative to `root`, size and mtime: any
    edit of a source file (or a new cache format) gives a new cache."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(f"{format_tag}\n".encode())
    prefix = f"{root}{os.sep}"
    for path in files:
        st = path.stat()
        text = str(path)  # the path relative to the root; os.path.relpath costs more than the stat
        relative = text[len(prefix):] if text.startswith(prefix) else text
        digest.update(f"{relative}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def whole(path: Path, meta_name: str, damage) -> bool:
    """True when a built cache is at `path` and `damage(path)` finds nothing wrong with it; a damaged one
    is named in a warning and moved away, to be rebuilt."""
    if not (path / meta_name).is_file():
        return False
    problem = damage(path)
    if problem is None:
        return True
    warnings.warn(f"{path}: the cache is damaged ({problem}); rebuilding it", stacklevel=3)
    discard(path)
    return False


def discard(path: Path) -> None:
    """Move a damaged cache aside (atomic: no reader opens it from now on), then delete it."""
    aside = path.with_name(f".{path.name}-damaged-{os.getpid()}")
    try:
        path.rename(aside)
    except OSError:  # another process moved or rebuilt it meanwhile
        return
    shutil.rmtree(aside, ignore_errors=True)
