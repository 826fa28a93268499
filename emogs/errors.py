"""Errors a user can fix, and the one way the command-line tools report them.

A `UserError` carries `problem` and `fix`; any exception with those two attributes (preprocess's
errors too) is printed by `cli_entry` as ``error: PROBLEM`` / ``  fix: FIX`` with exit code 2 and
no traceback. ``raise SystemExit("error: ...")`` in a tool and a FileNotFoundError (a path the user
gave) also end with exit code 2.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem with the user's input or paths; `fix` is a sentence telling what to do."""

    def __init__(self, problem: str, fix: str):
        self.problem, self.fix = problem, fix
        super().__init__(f"{problem}\n  fix: {fix}")


def is_user_error(err: BaseException) -> bool:
    return isinstance(err, UserError) or (hasattr(err, "problem") and hasattr(err, "fix"))


def cli_entry(main: Callable[..., int]) -> Callable[..., int]:
    """Wrap a tool's `main(argv) -> int`: user errors -> message on stderr and exit code 2."""

    @functools.wraps(main)
    def wrapped(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except SystemExit as ex:
            if isinstance(ex.code, str):  # raise SystemExit("error: ...")
                print(ex.code, file=sys.stderr)
                return 2
            raise
        except FileNotFoundError as err:  # a path the user gave (an avatar, audio, weights...)
            if is_user_error(err):
                print(f"error: {err.problem}\n  fix: {err.fix}", file=sys.stderr)
            else:
                print(f"error: {err}\n  fix: check the path", file=sys.stderr)
            return 2
        except Exception as err:
            if not is_user_error(err):
                raise
            print(f"error: {err.problem}\n  fix: {err.fix}", file=sys.stderr)
            return 2

    return wrapped
