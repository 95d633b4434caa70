"""What both command lines share: one-line argparse errors and the exit-code contract.

Exit codes: 0 success, 1 the run could not go on (e.g. non-finite loss), 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from labcore.errors import TrainingError, UsageError


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit code 2) instead of usage + error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see --help)\n")


def one_line(text: str) -> str:
    """`text` with its control characters (newlines, carriage returns, escape sequences a user's input may carry)
    written as escapes: an error is one line, and cannot move the terminal's cursor."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace | int:
    """Parse argv, or return the exit code of --help (0) or of a one-line argparse error (2).

    `train`'s (and `tune`'s) key=value overrides may follow its flags, which a plain nargs="*" positional does not
    collect, so they are gathered from what argparse leaves over.
    """
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command in ("train", "tune"):
            args.items += [e for e in extra if "=" in e and not e.startswith("-")]
            extra = [e for e in extra if e not in args.items]
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:
        return int(e.code or 0)
    return args


def run_command(prog: str, command: str, fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one subcommand, turning the lab's errors into one line on stderr and an exit code."""
    try:
        return fn(args)
    except UsageError as e:
        print(f"{prog} {command}: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except TrainingError as e:
        print(f"{prog} {command}: error: {one_line(str(e))}; the last good checkpoint is kept", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rllab list | head`: the reader left; not an error, and no traceback at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
