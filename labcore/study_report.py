"""What a finished (or stopped) study shows: a summary of its trials, printed as a table or JSON, and its best trial
written as a recipe (`labcore.tune`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tomli_w

from labcore.config import toml_value
from labcore.errors import UsageError
from labcore.space import Param


def settings_of(space: dict[str, Param], params: dict[str, Any]) -> dict[str, Any]:
    """A trial's stored parameters as the settings they stand for."""
    return {k: space[k].value_of(v) if k in space else v for k, v in params.items()}


def params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={toml_value(v)}" for k, v in params.items())


def summarize(study, space: dict[str, Param], direction: str, metric: str, settings: dict[str, Any]) -> dict[str, Any]:
    from optuna.trial import TrialState

    trials = []
    for t in study.get_trials(deepcopy=False):
        last = t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None
        params = settings_of(space, t.params)
        trials.append({"number": t.number, "state": t.state.name.lower(), "value": t.value,
                       "scores": t.user_attrs.get("scores", []), "last_report": last,
                       "params": params, "error": t.user_attrs.get("error")})
    complete = [t for t in trials if t["state"] == TrialState.COMPLETE.name.lower()]
    best = None
    if complete:
        pick = max if direction == "maximize" else min
        best = pick(complete, key=lambda t: t["value"])
    return {"study": study.study_name, "direction": direction, "metric": metric,
            "seeds": settings["seeds"], "objective": settings["objective"], "best": best, "trials": trials}


def print_table(summary: dict[str, Any]) -> None:
    print(f"{'trial':>5}  {'state':8}  {'value':>10}  seeds' scores / last report / error")
    for t in summary["trials"]:
        value = f"{t['value']:.4g}" if t["value"] is not None else "—"
        if t["scores"]:
            detail = ", ".join(f"{s:.4g}" for s in t["scores"])
        elif t["last_report"] is not None:
            detail = f"last report {t['last_report']:.4g}"
        else:
            detail = t["error"] or ""
        print(f"{t['number']:>5}  {t['state']:8}  {value:>10}  {detail}   {params_text(t['params'])}")
    best = summary["best"]
    if best:
        print(f"best: trial {best['number']}, {best['value']:.4g} ({summary['objective']} score, mean over seeds "
              f"{', '.join(map(str, summary['seeds']))})")
    else:
        print("no trial has completed yet")


MARK = "# written by `{prog} tune`, study {name!r}"


def check_out(path: Path, prog: str, name: str) -> None:
    """--out never replaces a file the user wrote: only one this study wrote before."""
    if path.exists():
        first = path.read_text(errors="replace").split("\n", 1)[0]
        if not first.startswith(MARK.format(prog=prog, name=name)):
            raise UsageError(f"{path} already exists and was not written by this study; choose another --out")


def write_recipe(path: Path, prog: str, head: dict[str, Any], base: dict[str, Any], summary: dict[str, Any], url: str,
                 what: str) -> None:
    """The best trial as a recipe `train` runs: `head` (rllab: algo), the base settings with the trial's, and in
    [result] the seeds and the score (`what` it is) it reached."""
    best, name = summary["best"], summary["study"]
    values = {**head, **{k: v for k, v in base.items() if k != "seed"}, **best["params"]}
    seeds = summary["seeds"]
    values["result"] = {
        "score": f"{best['value']:.4g}, mean {summary['objective']} {what} over seeds "
                 f"{', '.join(map(str, seeds))} (trial {best['number']} of study {name!r})",
        "seeds": seeds, "scores": best["scores"], "study": name, "trial": best["number"], "storage": url}
    mark = MARK.format(prog=prog, name=name) + f": its best trial ({len(summary['trials'])} trials)\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(mark + tomli_w.dumps(values))
    os.replace(tmp, path)
