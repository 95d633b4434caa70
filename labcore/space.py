"""A search space: a recipe's [search] table (or a package's default, written the same way) as Optuna parameters.

    [search]
    learning_rate = {low = 1e-4, high = 3e-3, log = true}   # a float range (an int range with int bounds)
    gamma = [0.98, 0.99, 0.995]                             # choices
    net_arch = [[64, 64], [256, 256]]                       # choices that are lists
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labcore.config import toml_value
from labcore.errors import UsageError, did_you_mean


@dataclass(frozen=True)
class Param:
    """One searched setting: a float or int range (`log` for a log scale) or a list of choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @classmethod
    def parse(cls, name: str, spec: Any) -> Param:
        """From a [search] entry: {low = 1e-5, high = 1e-2, log = true} or {choices = [...]} or a bare list."""
        where = f"[search] {name}"
        if isinstance(spec, list):
            spec = {"choices": spec}
        if not isinstance(spec, dict):
            raise UsageError(f"{where} must be {{low = …, high = …}}, {{choices = […]}} or a list, not {spec!r}")
        unknown = set(spec) - {"low", "high", "log", "choices"}
        if unknown:
            raise UsageError(f"{where}: unknown field {sorted(unknown)[0]!r}; use low, high, log or choices")
        if "choices" in spec:
            if set(spec) != {"choices"} or not isinstance(spec["choices"], list) or not spec["choices"]:
                raise UsageError(f"{where}: choices must be a non-empty list, alone")
            return cls(name, choices=tuple(spec["choices"]))
        low, high, log = spec.get("low"), spec.get("high"), spec.get("log", False)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
        if not numbers or not isinstance(log, bool):
            raise UsageError(f"{where} needs numbers low and high (and log = true or false)")
        if not low < high:
            raise UsageError(f"{where} is an empty range: low {low} is not below high {high}")
        if log and low <= 0:
            raise UsageError(f"{where}: a log-scale range must be positive, not from {low}")
        return cls(name, low, high, log)

    @property
    def is_int(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def suggest(self, trial) -> Any:
        if self.choices:  # Optuna's choices must be plain scalars: lists (net_arch) go by their TOML text
            return self.value_of(trial.suggest_categorical(self.name, [toml_value(c) for c in self.choices]))
        if self.is_int:
            return trial.suggest_int(self.name, self.low, self.high, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def value_of(self, stored: Any) -> Any:
        """The setting a trial's stored parameter stands for (a choice is stored as its TOML text)."""
        labels = [toml_value(c) for c in self.choices]
        return self.choices[labels.index(stored)] if stored in labels else stored

    def extremes(self) -> list[Any]:
        """The values to check against the config before a search starts."""
        return list(self.choices) or [self.low, self.high]

    def describe(self) -> str:
        if self.choices:
            return "{" + ", ".join(toml_value(c) for c in self.choices) + "}"
        return f"[{self.low}, {self.high}]{' log' if self.log else ''}"


def parse_space(table: dict[str, Any], keys: list[str]) -> dict[str, Param]:
    """A [search] table as Params, its names checked against the config's keys."""
    space = {}
    for name, spec in table.items():
        if name not in keys:
            raise UsageError(f"unknown parameter {name!r} in [search]{did_you_mean(name, keys)}: not a config key")
        if name == "seed":
            raise UsageError("[search] cannot search the seed: --seeds sets the seeds every trial trains on")
        space[name] = Param.parse(name, spec)
    return space


def check_space(space: dict[str, Param], build: Callable[[dict[str, Any]], Any], base: dict[str, Any]) -> None:
    """Every searched value's extremes must make a valid config (`build` raises otherwise), before any trial trains."""
    build(base)
    for p in space.values():
        for value in p.extremes():
            try:
                build({**base, p.name: value})
            except UsageError as e:
                raise UsageError(f"[search] {p.name} = {toml_value(value)}: {e}") from None
