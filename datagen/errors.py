"""Errors the CLI maps to exit codes: DatagenError -> 1 (failure), InputError -> 2 (usage or input),
RequestsFailed -> 3 (the run ended ``partial``), BudgetExceeded -> 4 (the run ended ``budget_stopped``);
130 Ctrl-C and 143 SIGTERM (``interrupted``)."""

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
    """The run stopped cleanly because the next request would exceed the budget cap (status ``budget_stopped``;
    what finished is cached, a rerun with a higher cap goes on)."""

    exit_code = 4


class RequestsFailed(DatagenError):
    """Some requests failed after their retries (each is in ``request_failures`` with its reason); every other
    answer was kept. The run ends ``partial``; a rerun sends only the failed requests again."""

    exit_code = 3

    def __init__(self, message: str, failures: int = 0) -> None:
        super().__init__(message)
        self.failures = failures
