"""Generative recipes: TOML files in `genlab/recipes/` that set a model's config fields — model, data, budget.

    model = "sprite-gan"     # which model's config (genlab.models) the other keys belong to
    data = "shapes"
    steps = 20000
    ...                      # any field of that config
    [result]                 # what it reached, measured (shown by `genlab list`, not a setting)
    [search]                 # what `genlab tune` searches (genlab.search), not a setting

`genlab train gan` starts from the recipe named like the model when there is one, as `rllab train
--algo A --env E` starts from the tuned recipe for that pair — unless `--data` names other data than the
recipe's (`genlab train gan --data mnist:PATH` is the GAN's defaults, a DCGAN, not the recipe's sprite GAN).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from labcore.config import read_toml
from labcore.errors import UsageError, did_you_mean


def available() -> dict[str, Path]:
    """Recipe name → file, sorted by name."""
    folder = Path(str(resources.files("genlab") / "recipes"))
    return {p.stem: p for p in sorted(folder.glob("*.toml"), key=lambda p: p.stem)}


def load(name_or_path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config values, result table) of a recipe given by name or .toml path."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise UsageError(f"no such recipe file: {name_or_path}")
    else:
        recipes = available()
        if name_or_path not in recipes:
            raise UsageError(f"unknown recipe {name_or_path!r}{did_you_mean(name_or_path, recipes)}; "
                             f"see `genlab list` (available: {', '.join(recipes)})")
        path = recipes[name_or_path]
    values = read_toml(path)
    result = values.pop("result", {})
    values.pop("search", None)
    if not isinstance(values.get("model"), str):
        raise UsageError(f"recipe {path} must set model = \"...\"")
    return values, result


def search_table(name: str) -> dict[str, Any] | None:
    """The [search] table of a recipe given by name or path (None: it has none, or `name` is a bare model)."""
    path = Path(name) if name.endswith(".toml") or "/" in name else available().get(name)
    table = read_toml(path).get("search") if path else None
    if table is not None and not isinstance(table, dict):
        raise UsageError(f"recipe {path}: search must be a table, [search]")
    return table


def resolve(name: str, models: tuple[str, ...], data: str | None = None) -> dict[str, Any]:
    """Config values for a model name (its same-named recipe, if any) or a recipe. A model's recipe is tuned for
    its own data: with `data` of another kind (mnist: for a shapes recipe) the model starts from its defaults."""
    if name in models:
        if name not in available():
            return {"model": name}
        values = load(name)[0]
        kind = str(values.get("data", "shapes")).split(":")[0]
        if data is not None and data.split(":")[0] != kind:
            from labcore.distributed import launched_main  # torch: imported here only, not by --help or list

            if launched_main():  # said once, not by every process of a torchrun job
                print(f"note: the {name} recipe is tuned for {kind}, so {name} on {data} starts from its defaults "
                      f"(to use the recipe anyway, pass its file: {available()[name]})")
            return {"model": name}
        return values
    if name in available() or name.endswith(".toml") or "/" in name:
        return load(name)[0]
    choices = list(dict.fromkeys([*models, *available()]))
    raise UsageError(f"unknown model or recipe {name!r}{did_you_mean(name, choices)}; choose from {', '.join(choices)}")
