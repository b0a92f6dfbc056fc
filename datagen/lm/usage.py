"""Which local models a run used, on which device and in which dtype: noted by the loaders, stored by the run.

``datagen.store.runs.tracking`` opens a ``recording()`` around each run; every loader of a local model (the
causal LMs of ``datagen.lm.load``, the sentence-transformers embedder, Detoxify, alt-profanity-check) calls
``note`` each time a caller asks for a model (a cached copy counts too, so a second run in the same process
records what it used). The run stores the result in its counters: ``models`` ({model: "device dtype"}) and
``device`` (the devices, comma-separated). Work done in other processes (Ray actors) is noted by the driver
from what the actors report (``merge``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Open recordings, outermost first: process-wide (not per thread), since a run's models may be loaded by its
# worker threads; a pipeline's run and the stage run inside it both see a model the stage loads.
_open: list[dict[str, str]] = []
_lock = threading.Lock()


def note(model: str, device: str, dtype: str) -> None:
    """Record that ``model`` ran on ``device`` in ``dtype`` in every open recording (none: a no-op)."""
    where = f"{device} {dtype}"
    with _lock:
        for used in _open:
            seen = used[model].split(", ") if model in used else []
            used[model] = ", ".join(sorted({*seen, where}))  # one model in two dtypes: both


def merge(used: dict[str, str]) -> None:
    """Record what another process reported (``{model: "device dtype"}``)."""
    for model, wheres in used.items():
        for where in wheres.split(", "):
            device, _, dtype = where.partition(" ")
            note(model, device, dtype)


def noted() -> dict[str, str]:
    """What the innermost recording holds so far (empty outside one)."""
    with _lock:
        return dict(_open[-1]) if _open else {}


@contextmanager
def recording() -> Iterator[dict[str, str]]:
    """Collect the models used while the block runs (an enclosing recording sees them too)."""
    used: dict[str, str] = {}
    with _lock:
        _open.append(used)
    try:
        yield used
    finally:
        with _lock:
            del _open[next(i for i, d in enumerate(_open) if d is used)]  # by identity, not equality


def counters(used: dict[str, str]) -> dict[str, object]:
    """A run's counters for what it used: ``models`` and ``device``; empty when it used no local model."""
    if not used:
        return {}
    devices = sorted({w.partition(" ")[0] for wheres in used.values() for w in wheres.split(", ")})
    return {"models": dict(sorted(used.items())), "device": ",".join(devices)}
