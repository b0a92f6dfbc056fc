"""How ``datagen.progress`` is drawn: live bars on a terminal, heartbeat lines elsewhere, JSON events to
``--log-json``.

One daemon thread (the ticker) runs while any stage does, when heartbeats or a JSON log are wanted: every
``DATAGEN_HEARTBEAT_S`` seconds it writes the heartbeat line and a ``progress`` event per running stage. Being
a daemon that waits on an event, it never keeps the process alive nor delays its exit.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from datagen import progress

if TYPE_CHECKING:
    from datagen.progress import Meter, Stage

_io = threading.Lock()  # one writer at a time on stderr and the JSON log
_ticker: _Ticker | None = None
_bars: _Bars | None = None
_paused = False  # the review UI owns the terminal: no live bars
_mode = "off"  # progress.mode(), read when the outermost stage starts
_beaten: set[int] = set()  # stages that wrote a heartbeat line (they also get a closing line)


class _Ticker(threading.Thread):
    def __init__(self, interval: float) -> None:
        super().__init__(name="datagen-heartbeat", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            tick()


def tick() -> None:
    """One heartbeat: the line (when heartbeats are shown) and a ``progress`` event per running stage."""
    running = progress.stages()
    if not running:
        return
    with progress._lock:
        text = " | ".join(st.line() for st in running)
        events = [_event("progress", st) for st in running]
    if _mode == "heartbeat":
        _beaten.update(id(st) for st in running)
        _write_err(f"[datagen] {text}")
    for e in events:
        _log(e)


def started(st: Stage, depth: int) -> None:
    global _ticker, _mode
    if depth == 1:
        _mode = progress.mode()
    _log(_event("start", st, depth=depth))
    if depth == 1 and _ticker is None and (_mode == "heartbeat" or progress.settings.log):
        _ticker = _Ticker(progress.heartbeat_s())
        _ticker.start()


def ended(st: Stage, outcome: str, depth: int) -> None:
    global _ticker, _bars
    _log(_event("end", st, outcome=outcome))
    if id(st) in _beaten:
        _beaten.discard(id(st))
        took = progress.duration(st.snapshot()["elapsed_s"])
        _write_err(f"[datagen] {st.name} {outcome} in {took}: {st.counts(final=True)}")
    if _bars is not None:
        if depth > 0 and st.view and not _paused:  # a finished inner stage leaves one line above the bars
            took = progress.duration(st.snapshot()["elapsed_s"])
            _bars.console.print(f"{st.name} {outcome} in {took}: {st.counts(final=True)}", markup=False)
        _bars.drop(st, keep=depth == 0)
    if depth == 0:
        if _ticker is not None:
            _ticker.stopped.set()
            _ticker = None
        if _bars is not None:
            _bars.stop()
            _bars = None


def changed(st: Stage, meter: Meter | None, completed: bool) -> None:
    """A meter moved (or the stage's status or fields did): redraw the bars; a meter that just reached its
    total is also a ``progress`` event (so even a short stage logs one)."""
    global _bars
    if _mode == "bars" and (meter is not None or st.view is not None):
        if _bars is None:
            _bars = _Bars()
        _bars.show(st)
    if completed and progress.settings.log:
        _log(_event("progress", st))


def pause(on: bool) -> None:
    global _paused
    _paused = on
    if _bars is not None:
        _bars.live(not on)


def live_console() -> Any:
    """The console the live bars draw on (a line printed there appears above them), or None."""
    return _bars.console if _bars is not None and not _paused else None


class _Bars:
    """A rich Progress: one row per meter; the first row of a stage carries its status and fields."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
            console=self.console, transient=False,
        )  # fmt: skip
        self.drawing = False
        self.live(not _paused)

    def show(self, st: Stage) -> None:
        tasks: dict[str, Any] = st.view if st.view is not None else {}
        st.view = tasks
        for k, (label, m) in enumerate(st.meters.items()):
            info = _info(st) if k == 0 else ""
            if label not in tasks:
                tasks[label] = self.progress.add_task(f"{st.name} {label}", total=m.total, info=info)
            self.progress.update(tasks[label], completed=m.done, total=m.total, info=info)

    def drop(self, st: Stage, keep: bool) -> None:
        if st.view and not keep:
            for task in st.view.values():
                self.progress.remove_task(task)
        st.view = None

    def live(self, on: bool) -> None:
        if on != self.drawing:
            (self.progress.start if on else self.progress.stop)()
        self.drawing = on

    def stop(self) -> None:
        self.live(False)


def _info(st: Stage) -> str:
    parts = [st.status] if st.status else []
    parts += [progress._field(k, v) for k, v in st.fields.items() if v is not None]
    return "  ".join(parts)


def _event(kind: str, st: Stage, **extra: Any) -> dict[str, Any]:
    ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"ts": ts, "event": kind, "pid": os.getpid(), **st.snapshot(), **extra}


def _log(event: dict[str, Any]) -> None:
    log = progress.settings.log
    if log is None:
        return
    with _io:
        log.write(json.dumps(event, default=str, ensure_ascii=False) + "\n")
        log.flush()


def _write_err(text: str) -> None:
    with _io:
        try:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr closed or gone: progress is not worth a crash
            pass
