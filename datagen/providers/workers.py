"""The executor's worker threads: a fixed set of daemon threads that run submitted calls.

Unlike ``concurrent.futures.ThreadPoolExecutor``, whose threads the interpreter joins at exit, these are daemon
threads: a process interrupted while calls are in flight (an HTTP request may take up to its timeout, a local
batch minutes) writes what it received and exits at once; the calls it gave up on are simply not used.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class DaemonPool:
    """``submit(fn, *args) -> Future`` on ``size`` daemon threads; ``shutdown(wait=False)`` abandons the calls in
    flight and cancels the queued ones."""

    def __init__(self, size: int, name: str = "datagen-exec") -> None:
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(max(1, size))
        ]
        for t in self._threads:
            t.start()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        fut: Future[T] = Future()
        self._jobs.put((fut, fn, args))
        return fut

    def shutdown(self, wait: bool = True) -> None:
        while True:  # queued calls that no thread has taken yet are cancelled
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in self._threads:
            self._jobs.put(None)
        if wait:
            for t in self._threads:
                t.join()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fut, fn, args = job
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as e:  # handed to the caller through the future
                fut.set_exception(e)
