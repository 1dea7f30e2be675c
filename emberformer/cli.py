"""The one argument parser of the non-Hydra commands (bench, compare, sweep, report, data.generate).

    python -m emberformer.<command> [POSITIONAL ...] [key=value ...] [--key value ...]

Arguments are checked against a dataclass: `key=value` (nested keys as `model.d_model=96`,
values parsed like Hydra overrides), `--key value` / `--key=value` as spellings of the same
(`--max-history 6` is `max_history=6`), and bare words fill the command's positional fields in
order. `-h` / `--help` prints the command's docstring. Every mistake is one ConfigError line.
Written here rather than with argparse because the commands take Hydra-style `key=value`
overrides typed by a dataclass, which argparse can't express; OmegaConf does the typing.
"""

from __future__ import annotations

import dataclasses
import sys
import typing

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from emberformer.errors import ConfigError

def _key_value_pairs(argv: list[str], positional: tuple[str, ...], example: str) -> list[tuple[str, str]]:
    """argv -> [(dotted key, raw value)], with `--key value` folded in and bare words placed."""
    pairs, free = [], list(positional)
    args = iter(argv)
    for arg in args:
        if arg.startswith("--"):
            key, sep, value = arg[2:].partition("=")
            if not sep:
                value = next(args, None)
                if value is None:
                    raise ConfigError(f"{arg} needs a value ({arg} VALUE or {key.replace('-', '_')}=VALUE)")
            pairs.append((key.replace("-", "_"), value))
        elif "=" in arg:
            key, _, value = arg.partition("=")
            pairs.append((key, value))
        elif free:
            pairs.append((free.pop(0), arg))
        else:
            raise ConfigError(f"argument {arg!r} is not key=value; e.g. {example}")
    return pairs


def _type_name(hint) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if args:  # `int | None` reads as "int"
        return " | ".join(_type_name(a) for a in args)
    return getattr(hint, "__name__", str(hint))


def _field_types(schema) -> dict[str, str]:
    hints = typing.get_type_hints(schema)
    return {f.name: _type_name(hints[f.name]) for f in dataclasses.fields(schema)}


def given_keys(argv: list[str], positional: tuple[str, ...] = ()) -> set[str]:
    """The top-level keys that `argv` sets (for commands whose defaults depend on what was given)."""
    return {key.split(".")[0] for key, _ in _key_value_pairs(argv, positional, "key=value")}


def parse_arguments(argv: list[str], schema, *, positional: tuple[str, ...] = (),
                    example: str = "key=value") -> DictConfig:
    """`argv` checked against the dataclass `schema` (unknown keys and wrong types are errors).

    A field typed `str` (or `str | None`) keeps its text exactly (a path such as `out=007` is not
    read as a number).
    """
    types = _field_types(schema)
    user = OmegaConf.create()
    raw = {}
    for key, value in _key_value_pairs(argv, positional, example):
        raw[key] = value
        try:
            if types.get(key) == "str":
                user[key] = value
            else:
                user.merge_with_dotlist([f"{key}={value}"])
        except OmegaConfBaseException as err:
            raise ConfigError(f"argument {key}={value}: {str(err).splitlines()[0]}") from None
    try:
        return OmegaConf.merge(OmegaConf.structured(schema), user)
    except ConfigKeyError as err:
        key = err.full_key or "?"
        top = key.split(".")[0]
        if top in types:
            raise ConfigError(f"argument {key}: {top} takes no key {key[len(top) + 1:]!r}") from None
        options = ", ".join(f"{name}=" for name in types if name not in positional)
        raise ConfigError(f"unknown argument {key!r} ({key}={raw.get(key, '?')}: not an option); use one of "
                          f"{options}") from None
    except OmegaConfBaseException as err:
        key = err.full_key or "?"
        kind = types.get(key.split(".")[0], "another type")
        raise ConfigError(f"argument {key}={raw.get(key, '?')}: {key} must be of type {kind}") from None


def run_command(main_fn, doc: str | None, argv: list[str] | None = None):
    """`main_fn(argv)` with the process's arguments by default and `--help` answered from `doc`."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(arg in ("-h", "--help") for arg in argv):
        print((doc or "").strip())
        return None
    return main_fn(argv)
