"""How lists of named things read for people: natural sort order and compact id ranges."""

from __future__ import annotations

import re
from pathlib import Path


def natural_key(name: str | Path) -> tuple:
    """The project's one natural sort key: `frame_2.png` before `frame_10.png`, job `9` before `10`.

    Text and numbers alternate at fixed positions (re.split keeps the digit runs at odd indices),
    so an int never meets a str."""
    return tuple(int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", str(name)))


def id_ranges(ids: list[int]) -> str:
    """[1, 2, 3, 5, 7, 8] -> "1-3, 5, 7-8": every id, readable however many there are."""
    spans: list[list[int]] = []
    for i in sorted(ids):
        if spans and i == spans[-1][1] + 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
