"""Errors the command line turns into a one-line message.

`UsageError` is bad input (exit code 2): an unknown name, a wrong type, a bad path.
`TrainingError` is a run that could not go on (exit code 1), e.g. a non-finite loss.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UsageError(Exception):
    """Bad input from the user; the CLI prints it as one line and exits with code 2."""


class TrainingError(Exception):
    """A run that cannot continue (non-finite loss); the CLI prints it and exits with code 1."""


def did_you_mean(word: str, choices: Iterable[str], n: int = 3) -> str:
    """A ' (did you mean X?)' suffix naming the closest choices, or '' if none is close."""
    close = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[c] for c in difflib.get_close_matches(word.lower(), lowered, n=n, cutoff=0.6)]
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
