"""Typed dataclass configs: TOML recipes and `key=value` overrides set their fields.

A config class is a plain `@dataclass` whose fields carry a docstring each (read
from the source, as tyro does, so `--help` shows them). Values are checked here
against the field's type; range checks live in each config's `__post_init__`
and raise `UsageError` through `check`.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import sys
import textwrap
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, Literal

from labcore.errors import UsageError, did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def check(ok: bool, key: str, message: str) -> None:
    """Raise a `UsageError` naming `key` unless `ok`."""
    if not ok:
        raise UsageError(f"config key '{key}' {message}")


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Map each dataclass field to the docstring written under it (inherited ones too)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):  # source not available (e.g. zipped install)
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for stmt, nxt in zip(body, body[1:]):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs


def defaults(cls: type) -> dict[str, Any]:
    """Field name → default value."""
    return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            for f in dataclasses.fields(cls)}


def describe(cls: type, only: set[str] | None = None) -> str:
    """Two lines per field (`name = default`, then its doc), for `--help`; `only` picks fields."""
    docs = field_docs(cls)
    lines = []
    for name, default in defaults(cls).items():
        if only is None or name in only:
            lines.append(f"  {name} = {toml_value(default)}\n      {docs.get(name, '')}")
    return "\n".join(lines)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _coerce(key: str, value: Any, kind: Any) -> Any:
    """Return `value` as type `kind`, or raise a `UsageError` naming the key."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None or value == "none":
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(key, value, arg)
            except UsageError as e:
                errors.append(str(e))
        raise UsageError(errors[0] if errors else f"config key '{key}' cannot be {value!r}")
    if origin is Literal:
        if value in args:
            return value
        raise UsageError(
            f"config key '{key}' must be one of {', '.join(map(repr, args))}, not {value!r}"
            + did_you_mean(str(value), [str(a) for a in args])
        )
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            raise UsageError(f"config key '{key}' must be a table such as {{n = 12}}, not {value!r}")
        return value
    if origin in (list, tuple):
        if isinstance(value, str):  # "64,64" on the command line
            value = [v for v in value.replace(" ", "").strip("[]()").split(",") if v]
            value = [_literal(v) for v in value]
        if not isinstance(value, list | tuple):
            raise UsageError(f"config key '{key}' must be a list, not {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(key, v, inner) for v in value]
        return items if origin is list else tuple(items)
    if kind is Any:
        return value
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise UsageError(f"config key '{key}' must be true or false, not {value!r}")
    if kind is int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)  # 1e5 written as a float
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise UsageError(f"config key '{key}' must be an integer, not {value!r}")
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise UsageError(f"config key '{key}' must be a number, not {value!r}")
    if kind is str:
        if isinstance(value, str):
            return value
        raise UsageError(f"config key '{key}' must be a string, not {value!r}")
    raise TypeError(f"unsupported config type {kind!r} for {key}")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse `key=value` strings; values are read as TOML literals, else as bare strings."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"expected key=value, got {item!r}")
        out[key] = _literal(raw)
    return out


def _literal(raw: str) -> Any:
    """`raw` read as a TOML value (number, bool, string, array, inline table), else as the bare string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def build(cls: type, values: dict[str, Any]):
    """Make a `cls` from plain values, checking each key and type (and ranges in __post_init__)."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in hints or key not in names:
            raise UsageError(f"unknown config key '{key}'{did_you_mean(key, names)} for {cls.__name__}")
        kwargs[key] = _coerce(key, value, hints[key])
    return cls(**kwargs)


def to_dict(cfg) -> dict[str, Any]:
    """The config as plain TOML-able values (tuples become lists, None is dropped)."""
    out = {}
    for key, value in dataclasses.asdict(cfg).items():
        if value is None:
            continue
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning a missing or malformed file into a `UsageError`."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} is not valid TOML: {e}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a TOML file") from None


def markdown_table(values: dict[str, Any]) -> str:
    """The config as a two-column markdown table, for TensorBoard's text tab."""
    rows = [f"| {k} | {toml_value(v)} |" for k, v in values.items()]
    return "| key | value |\n|---|---|\n" + "\n".join(rows)
