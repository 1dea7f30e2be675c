"""User-facing errors: one line that names the problem and the fix.

Entry points catch `EmberFormerError` and print its message without a traceback
(set HYDRA_FULL_ERROR=1 or EMBERFORMER_DEBUG=1 to see one); everything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import functools
import os
import sys


class EmberFormerError(Exception):
    """A problem with the user's input (data, config, checkpoint) rather than a bug."""

    exit_code = 2


class ConfigError(EmberFormerError):
    """An invalid configuration value."""


class DataError(EmberFormerError):
    """A missing or malformed input file."""


class CheckpointError(EmberFormerError):
    """A checkpoint that can't be loaded or doesn't fit the config."""


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_whole(value, minimum: int) -> bool:
    return is_number(value) and int(value) == value and value >= minimum


def require(condition: bool, message: str) -> None:
    """The config checks' one form: a ConfigError naming `key=value` and what it must be."""
    if not condition:
        raise ConfigError(message)


def check_positive_int(value, key: str) -> int:
    """A whole-number setting >= 1 (sizes, counts), or a ConfigError naming `key=value`."""
    require(isinstance(value, int) and is_whole(value, 1), f"{key}={value!r} must be a positive integer")
    return value


def show_tracebacks() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in ("HYDRA_FULL_ERROR", "EMBERFORMER_DEBUG"))


def exit_on_user_error(fn):
    """Wrap a CLI entry point: user errors become `error: ...` on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EmberFormerError as err:
            if show_tracebacks():
                raise
            print(f"error: {err}", file=sys.stderr)
            sys.exit(err.exit_code)

    return wrapper
