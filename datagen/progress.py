"""Live progress of every long stage on stderr, through one mechanism: stages that hold meters.

A *stage* (``with stage("filter", run_id):``; every ``tracked_run`` opens one, named by the run's kind) holds
*meters* (``meter("records", total=1000).advance(256)``), a status text (``status("loading models")``) and
extra fields (``note(tokens=1234, cost_usd=0.0123)``). Code deep inside a stage (the executor, a trainer
callback) reaches the innermost stage through the module functions; outside any stage they do nothing.

What a person sees depends on where stderr goes (``datagen.progress_out`` draws it):

* a terminal: live bars (rich), one per meter, with done/total, elapsed, ETA and the stage's fields;
* anything else (a pipe, a file, CI): a one-line heartbeat every ``DATAGEN_HEARTBEAT_S`` seconds (default
  30), also when nothing advanced, e.g.
  ``[datagen] filter: 340/1000 records, perplexity 120/1000, 2.1 rec/s, eta 5m12s``;
* ``--quiet`` (or ``DATAGEN_PROGRESS=0``): nothing. ``DATAGEN_PROGRESS=1`` draws bars even off a terminal.

``--log-json FILE`` appends machine-readable events (JSON lines): ``start`` and ``end`` of every stage and
``progress`` at the heartbeat's pace (and whenever a meter completes), each with the run id, timestamps and
the same counts.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

HEARTBEAT_ENV = "DATAGEN_HEARTBEAT_S"
DEFAULT_HEARTBEAT_S = 30.0
SHORT = {"records": "rec", "requests": "req", "instructions": "instr"}


@dataclass
class Settings:
    """How progress is shown in this process (the CLI sets it from ``--quiet`` and ``--log-json``)."""

    quiet: bool = False
    log: TextIO | None = None


settings = Settings()
_lock = threading.RLock()
_stack: list[Stage] = []


def configure(quiet: bool = False, log_json: str | None = None) -> None:
    """Apply the global options; a ``log_json`` file that cannot be opened for appending is an input error
    (exit 2) raised before any work."""
    from datagen.errors import InputError

    if settings.log is not None:
        settings.log.close()
    settings.quiet, settings.log = quiet, None
    if log_json:
        try:
            settings.log = open(log_json, "a", encoding="utf-8")  # noqa: SIM115 (closed at exit or reconfigure)
        except OSError as e:
            raise InputError(f"--log-json {log_json}: cannot write there ({e.strerror or e})") from None


def mode() -> str:
    """``bars`` (live bars), ``heartbeat`` (periodic lines) or ``off``."""
    if settings.quiet:
        return "off"
    flag = os.environ.get("DATAGEN_PROGRESS")
    if flag is not None and flag.lower() in ("0", "false", "no"):
        return "off"
    if flag is not None and flag.lower() in ("1", "true", "yes"):
        return "bars"
    return "bars" if sys.stderr.isatty() else "heartbeat"


def heartbeat_s() -> float:
    try:
        value = float(os.environ.get(HEARTBEAT_ENV, DEFAULT_HEARTBEAT_S))
    except ValueError:
        return DEFAULT_HEARTBEAT_S
    return value if value > 0 else DEFAULT_HEARTBEAT_S


@dataclass(eq=False)
class Meter:
    """done/total of one kind of unit in a stage; ``total`` None while unknown."""

    label: str
    total: float | None = None
    stage: Stage | None = None
    done: float = 0
    started: float = field(default_factory=time.monotonic)
    origin: float = 0  # done when the rate's clock started
    stopped: float | None = None  # when it reached its total (the rate's clock stops)
    paced: bool = True  # False: units of unequal size (a pipeline's stages), so no rate or ETA is shown

    def advance(self, n: float = 1) -> None:
        self.update(done=self.done + n)

    def expect(self, n: float) -> None:
        """``n`` more units are about to be worked on: the total grows to cover them unless it already does
        (an owner may have planned the total ahead)."""
        if self.total is None or self.done + n > self.total:
            self.update(total=self.done + n)

    def add_total(self, n: float) -> None:
        """Grow (or, negative, shrink) the total: work found (or ruled out) on the way."""
        self.update(total=max(self.done, (self.total or 0) + n))

    def update(self, done: float | None = None, total: float | None = None) -> None:
        with _lock:
            finished_before = self.finished
            if total is not None:
                self.total = total
            if done is not None:
                self.done = done
            if self.finished != finished_before:
                self.stopped = time.monotonic() if self.finished else None
            if self.stage is not None:
                self.stage.changed(self, completed=self.finished and not finished_before)

    def reset(self, total: float | None = None, done: float = 0) -> None:
        """Start counting again (a new round; a resumed run from ``done``): the rate is measured from now."""
        self.started, self.origin, self.stopped = time.monotonic(), done, None
        self.update(done=done, total=total)

    @property
    def finished(self) -> bool:
        return self.total is not None and self.total > 0 and self.done >= self.total

    def rate(self) -> float | None:
        if not self.paced:
            return None
        elapsed, done = (self.stopped or time.monotonic()) - self.started, self.done - self.origin
        return done / elapsed if done > 0 and elapsed > 0 else None

    def eta_s(self) -> float | None:
        if self.finished:
            return None
        r = self.rate()
        return max(0.0, (self.total - self.done) / r) if r and self.total is not None else None

    def snapshot(self) -> dict[str, Any]:
        r, eta = self.rate(), self.eta_s()
        return {"done": _num(self.done), "total": None if self.total is None else _num(self.total),
                "rate": None if r is None else round(r, 3), "eta_s": None if eta is None else round(eta, 1)}  # fmt: skip


class Stage:
    """A named long step of a command (usually one run): its meters, status and fields."""

    def __init__(self, name: str, run_id: int | None = None) -> None:
        self.name, self.run_id = name, run_id
        self.meters: dict[str, Meter] = {}
        self.fields: dict[str, Any] = {}
        self.status = ""
        self.outcome: str | None = None  # how it ended, when its owner knows better (a run's status)
        self.started = time.monotonic()
        self.view: Any = None  # the live display's handle, when bars are drawn

    def meter(self, label: str, total: float | None = None, paced: bool = True) -> Meter:
        """The stage's meter called ``label`` (made on first use; a ``total`` given replaces the old one)."""
        with _lock:
            m = self.meters.get(label)
            if m is None:
                m = self.meters[label] = Meter(label, total, paced=paced)
                m.stage = self
                self.changed(m)
            elif total is not None:
                m.update(total=total)
            return m

    def note(self, **fields: Any) -> None:
        with _lock:
            self.fields.update(fields)
            self.changed(None)

    def set_status(self, text: str) -> None:
        with _lock:
            self.status = text
            self.changed(None)

    def changed(self, meter: Meter | None, completed: bool = False) -> None:
        from datagen import progress_out

        progress_out.changed(self, meter, completed)

    def snapshot(self) -> dict[str, Any]:
        return {
            "stage": self.name,
            "run_id": self.run_id,
            "status": self.status or None,
            "elapsed_s": round(time.monotonic() - self.started, 3),
            "meters": {label: m.snapshot() for label, m in self.meters.items()},
            "fields": dict(self.fields),
        }

    def line(self) -> str:
        """The heartbeat's text for this stage: ``filter: 340/1000 records, perplexity 120/1000, 2.1 rec/s,
        eta 5m12s``."""
        head = f"{self.name} ({self.status})" if self.status else self.name
        return f"{head}: {self.counts()}"

    def counts(self, final: bool = False) -> str:
        """The counts, rate, ETA (not when ``final``) and fields, comma-separated."""
        parts: list[str] = []
        meters = list(self.meters.values())
        for k, m in enumerate(meters):
            count = f"{_num(m.done):,}" + ("" if m.total is None else f"/{_num(m.total):,}")
            parts.append(f"{count} {m.label}" if k == 0 else f"{m.label} {count}")
        if meters:
            first = meters[0]
            r, eta = first.rate(), first.eta_s()
            if r is not None:
                unit = SHORT.get(first.label, first.label)
                parts.insert(1, f"{r:.1f} {unit}/s" if r >= 1 else f"{1 / r:.1f} s/{unit.rstrip('s')}")
            if eta is not None and not final:
                parts.insert(2 if r is not None else 1, f"eta {duration(eta)}")
        parts += [_field(k, v) for k, v in self.fields.items() if v is not None]
        if not parts:
            parts.append(f"running {duration(time.monotonic() - self.started)}")
        return ", ".join(parts)


@contextmanager
def stage(name: str, run_id: int | None = None) -> Iterator[Stage]:
    """Show a stage's progress while the block runs (see the module docstring); the ``end`` event says how
    it ended (``succeeded``, ``failed``, ``interrupted``)."""
    from datagen import progress_out

    st = Stage(name, run_id)
    with _lock:
        _stack.append(st)
        progress_out.started(st, len(_stack))
    outcome = "succeeded"
    try:
        yield st
    except KeyboardInterrupt:  # Ctrl-C, and SIGTERM (datagen.errors.Terminated)
        outcome = "interrupted"
        raise
    except BaseException:
        outcome = "failed"
        raise
    finally:
        with _lock:
            _stack.remove(st)
            progress_out.ended(st, st.outcome or outcome, len(_stack))


def current() -> Stage | None:
    """The innermost stage running in this process, if any."""
    with _lock:
        return _stack[-1] if _stack else None


def stages() -> list[Stage]:
    with _lock:
        return list(_stack)


class _NoMeter(Meter):
    def update(self, done: float | None = None, total: float | None = None) -> None:
        pass


def meter(label: str, total: float | None = None, paced: bool = True) -> Meter:
    """The innermost stage's meter ``label`` (one that counts nothing when no stage runs); ``paced=False``
    for units of unequal size, which get no rate or ETA."""
    st = current()
    return st.meter(label, total, paced) if st is not None else _NoMeter(label, total)


_counting: list[Meter] = []


@contextmanager
def counting(m: Meter) -> Iterator[Meter]:
    """While the block runs, ``tick`` (called by loops that know nothing of stages: a model's batches in
    ``datagen.lm``) advances ``m``."""
    _counting.append(m)
    try:
        yield m
    finally:
        _counting.remove(m)


def tick(n: float = 1) -> None:
    """``n`` more units done by whatever is being ``counting``-ed (nothing when nothing is)."""
    if _counting:
        _counting[-1].advance(n)


def requests_meter(n: int, counted: bool = True) -> Meter:
    """The innermost stage's ``requests`` meter, grown to cover ``n`` more (a meter that counts nothing when
    not ``counted``): what the executor advances as answers arrive."""
    if not counted:
        return _NoMeter("requests")
    m = meter("requests")
    m.expect(n)
    return m


def note(**fields: Any) -> None:
    """Extra fields shown with the innermost stage's counts (tokens, cost, loss)."""
    st = current()
    if st is not None:
        st.note(**fields)


def status(text: str) -> None:
    """What the innermost stage is doing now (``loading models``, ``round 2/4``)."""
    st = current()
    if st is not None:
        st.set_status(text)


@contextmanager
def paused() -> Iterator[None]:
    """Take the live bars off the terminal while the block runs (the review UI draws there)."""
    from datagen import progress_out

    progress_out.pause(True)
    try:
        yield
    finally:
        progress_out.pause(False)


def duration(seconds: float) -> str:
    """``42s``, ``5m12s``, ``2h05m``."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else round(v, 3)


def _field(key: str, value: Any) -> str:
    if key == "cost_usd":
        return f"${value:.4f}"
    if key == "tokens":
        return f"{int(value):,} tok"
    if isinstance(value, float):
        return f"{key} {value:.4g}"
    if isinstance(value, int):
        return f"{key} {value:,}"
    return f"{key} {value}"
