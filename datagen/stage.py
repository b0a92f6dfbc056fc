"""The stage contract: every stage is ``run_<stage>(store, cfg, parent_run=None) -> StageResult``.

The stages are import, self_instruct, evol, filter, review, dataset, export, train and score. Each is a
library function that does its whole job (its run row, its resume, its outputs) and returns what happened;
its command and ``datagen.pipeline`` both call it, and only render the result (human text or ``--json``).

"Is this the same run, so resume it?" is answered by ``same_run`` for every stage that resumes a run of its
own (the pipeline, training): two resolved configs are the same run when they are equal apart from the keys
that do not change the result (``ignore``, dotted paths).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from datagen.textnorm import stable_hash


@dataclass
class StageResult:
    """What a stage did: its run, its summary (what ``--json`` prints) and the files it wrote, by name."""

    run_id: int
    summary: dict[str, Any]
    outputs: dict[str, str] = field(default_factory=dict)


def run_identity(config: dict[str, Any], ignore: Iterable[str] = ()) -> str:
    """A hash of a resolved config without the ``ignore``d keys (``"review.mode"`` reaches into a section)."""
    data = _without(config, [tuple(k.split(".")) for k in ignore])
    return stable_hash(data)


def same_run(stored: dict[str, Any], config: dict[str, Any], ignore: Iterable[str] = ()) -> bool:
    """Whether a run stored with config ``stored`` is the run ``config`` asks for (so it is resumed)."""
    keys = list(ignore)
    return run_identity(stored, keys) == run_identity(config, keys)


def _without(data: dict[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        here = [p for p in paths if p[0] == key]
        if any(len(p) == 1 for p in here):
            continue
        out[key] = _without(value, [p[1:] for p in here]) if here and isinstance(value, dict) else value
    return out
