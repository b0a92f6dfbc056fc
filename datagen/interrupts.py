"""Ctrl-C and SIGTERM held back while a short write runs, so that an answer already received is never lost, or
written twice, because a signal landed between receiving it and committing it.

Inside ``signals_deferred()`` the SIGINT and SIGTERM handlers only note the signal; when the block ends the
original handler runs for it (raising KeyboardInterrupt or ``Terminated`` there). Blocking the signal with
``pthread_sigmask`` would not do: the kernel hands a process-directed signal to any thread that does not block
it, and Python then runs the handler in the main thread all the same. Only the main thread can install
handlers, so elsewhere this does nothing (signals are handled by the main thread anyway).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_depth = 0


@contextmanager
def signals_deferred() -> Iterator[None]:
    global _depth
    if threading.current_thread() is not threading.main_thread() or _depth:
        yield  # elsewhere, or nested: the outer block holds them
        return
    noted: list[tuple[int, FrameType | None]] = []

    def note(signum: int, frame: FrameType | None) -> None:
        noted.append((signum, frame))

    old: dict[int, Any] = {sig: signal.signal(sig, note) for sig in _SIGNALS}
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for signum, frame in noted[:1]:  # the first one decides how the process ends
            call_handler(old[signum], signum, frame)


def call_handler(handler: Any, signum: int, frame: FrameType | None) -> None:
    """Run what ``handler`` (as ``signal.signal`` returned it) would have done for ``signum``."""
    if callable(handler):
        run: Callable[[int, FrameType | None], Any] = handler
        run(signum, frame)
    elif handler == signal.SIG_DFL and signum == signal.SIGTERM:
        signal.raise_signal(signum)  # no Python handler: the default action (terminate)
