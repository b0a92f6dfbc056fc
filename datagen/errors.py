"""Errors the CLI maps to exit codes: InputError -> 2 (usage or input), DatagenError -> 1 (failure)."""

from __future__ import annotations


class DatagenError(Exception):
    """A failure that is not the user's input (exit code 1)."""

    exit_code = 1


class InputError(DatagenError):
    """Bad input: a malformed file, an unknown config key, a missing model or key (exit code 2)."""

    exit_code = 2


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler, ``timeout``): handled like Ctrl-C, so the run is marked interrupted and
    a rerun resumes; the process exits 143."""


class BudgetExceeded(DatagenError):
    """The run stopped cleanly because the next request would exceed the budget cap."""

    exit_code = 1
