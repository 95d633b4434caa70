"""Recipes: TOML files in `agents/` that set an algorithm's config fields, plus the score they reach.

    algo = "dqn"            # which algorithm's config the other keys belong to
    env = "CartPole-v1"
    steps = 50000
    ...                      # any config field
    [result]                 # what it reached, measured (shown by `rllab list`, not a setting)
    [search]                 # what `rllab tune` searches (rllab.search), not a setting

The folder ships inside the wheel as `rllab/agents` (see pyproject.toml), so recipes work from a
regular install as well as from a checkout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from labcore.config import read_toml
from labcore.errors import UsageError, did_you_mean


def recipe_dir() -> Path:
    return Path(str(resources.files("rllab.agents")))


def available() -> dict[str, Path]:
    """Recipe name → file, sorted by name."""
    return {p.stem: p for p in sorted(recipe_dir().glob("*.toml"))}


def find(name_or_path: str) -> Path:
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise UsageError(f"no such recipe file: {name_or_path}")
        return path
    recipes = available()
    if name_or_path not in recipes:
        raise UsageError(
            f"unknown recipe {name_or_path!r}{did_you_mean(name_or_path, recipes)}; "
            f"see `rllab list` (available: {', '.join(recipes)})"
        )
    return recipes[name_or_path]


def load(name_or_path: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(algo, config values, result table) of a recipe."""
    path = find(name_or_path)
    values = read_toml(path)
    result = values.pop("result", {})
    values.pop("search", None)
    algo = values.pop("algo", None)
    if not isinstance(algo, str):
        raise UsageError(f"recipe {path} must set algo = \"...\"")
    return algo, values, result


def matching(algo: str, env: str) -> str | None:
    """The recipe tuned for (algo, env), if there is one — as RL Zoo picks its tuned settings."""
    for name, path in available().items():
        values = read_toml(path)
        if values.get("algo") == algo and values.get("env") == env:
            return name
    return None


def search_table(name_or_path: str) -> dict[str, Any] | None:
    """A recipe's [search] table, if it has one."""
    path = find(name_or_path)
    table = read_toml(path).get("search")
    if table is not None and not isinstance(table, dict):
        raise UsageError(f"recipe {path}: search must be a table, [search]")
    return table
