"""Requests-per-minute and tokens-per-minute pacing, plus a shared pause after a 429.

Each limit is a GCRA ("virtual scheduling") pacer: a request may start once the theoretical arrival time
``tat`` has come, and moves ``tat`` on by its cost (one request: 60/rpm seconds; n tokens: 60·n/tpm
seconds). Requests are therefore spread evenly at the configured rate: the achieved rate approaches the
limit, and a server that enforces the same limit never has reason to answer 429. Token costs are estimated
before sending and corrected with the real usage afterwards. A 429 with retry-after pauses every worker,
not just the one that got it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Thread-safe pacing for ``rpm`` requests and ``tpm`` tokens per minute (either may be None)."""

    def __init__(
        self,
        rpm: float | None,
        tpm: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        cancelled: threading.Event | None = None,
    ) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self._clock = clock
        self._sleep = sleep
        self._cancelled = cancelled
        self._lock = threading.Lock()
        self._tat_req = 0.0
        self._tat_tok = 0.0
        self._paused_until = 0.0

    def acquire(self, n_requests: int, est_tokens: int) -> bool:
        """Block until ``n_requests`` requests using about ``est_tokens`` tokens may start, and book them;
        False (nothing booked) when the ``cancelled`` event is set meanwhile."""
        while True:
            if self._cancelled is not None and self._cancelled.is_set():
                return False
            with self._lock:
                now = self._clock()
                start = max(now, self._paused_until)
                if self.rpm:
                    start = max(start, self._tat_req)
                if self.tpm:
                    start = max(start, self._tat_tok)
                if start <= now:
                    if self.rpm:
                        self._tat_req = max(self._tat_req, now) + 60.0 * n_requests / self.rpm
                    if self.tpm:
                        self._tat_tok = max(self._tat_tok, now) + 60.0 * est_tokens / self.tpm
                    return True
                wait = start - now
            if self._cancelled is not None:
                self._cancelled.wait(wait)
            else:
                self._sleep(wait)

    def correct_tokens(self, est_tokens: int, actual_tokens: int) -> None:
        """Replace a booked estimate by the real usage (moves the token schedule back or forward)."""
        if self.tpm:
            with self._lock:
                self._tat_tok += 60.0 * (actual_tokens - est_tokens) / self.tpm

    def pause(self, seconds: float) -> None:
        """Hold every new request for ``seconds`` (the server asked so with retry-after)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
