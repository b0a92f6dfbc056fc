"""What a review sample or a dataset is drawn from: a run (and its child runs), a dataset version, or everything.

A scope is a small JSON-safe dict, stored on samples and datasets: ``{"run": 3}``, ``{"dataset": "name@2"}`` or
``{"all": True}``. A run scope takes the records created by the run or any of its descendants (a pipeline run's
generate child) and the records those runs' filter passes judged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datagen.errors import InputError
from datagen.store.models import (
    APPROVED,
    CANDIDATE,
    FILTERED_OUT,
    REJECTED,
    DatasetItem,
    Record,
    Run,
    Verdict,
)

# Records that survived the filter chain (a later human decision moves them to approved/rejected).
KEPT_STATUSES = (CANDIDATE, APPROVED, REJECTED)
EDIT_METHOD = "edit"


def make_scope(run: int | None = None, dataset: str | None = None) -> dict[str, Any]:
    if run is not None and dataset is not None:
        raise InputError("give either --run or --dataset, not both")
    if run is not None:
        return {"run": int(run)}
    if dataset is not None:
        return {"dataset": dataset}
    return {"all": True}


def describe(scope: dict[str, Any]) -> str:
    if "run" in scope:
        return f"run {scope['run']}"
    if "dataset" in scope:
        return f"dataset {scope['dataset']}"
    return "all records"


def run_family(s: Session, run_id: int) -> set[int]:
    """The run and all its descendants (parent_run_id links)."""
    if s.get(Run, run_id) is None:
        raise InputError(f"run {run_id} does not exist")
    family, frontier = {run_id}, [run_id]
    while frontier:
        kids = s.scalars(select(Run.id).where(Run.parent_run_id.in_(frontier))).all()
        frontier = [k for k in kids if k not in family]
        family.update(frontier)
    return family


def scope_record_ids(s: Session, scope: dict[str, Any]) -> set[int]:
    """Ids of every original (non-edit) record in the scope, whatever its status."""
    if "run" in scope:
        runs = run_family(s, int(scope["run"]))
        made = set(s.scalars(select(Record.id).where(Record.run_id.in_(runs))).all())
        judged = set(s.scalars(select(Verdict.record_id).where(Verdict.run_id.in_(runs))).all())
        ids = made | judged
    elif "dataset" in scope:
        from datagen.datasets.ref import find_dataset  # here: datagen.datasets imports this module

        ds = find_dataset(s, str(scope["dataset"]))
        ids = set(s.scalars(select(DatasetItem.record_id).where(DatasetItem.dataset_id == ds.id)).all())
    elif scope.get("all"):
        ids = set(s.scalars(select(Record.id)).all())
    else:
        raise InputError(f"unknown scope {scope!r}")
    if not ids:
        return set()
    edits = set(s.scalars(select(Record.id).where(Record.id.in_(ids), Record.method == EDIT_METHOD)).all())
    return ids - edits if "dataset" not in scope else ids


def kept_and_filtered(s: Session, scope: dict[str, Any]) -> tuple[list[Record], list[Record]]:
    """The scope's records that passed the filter chain (candidate, or since approved/rejected) and those it
    dropped (filtered_out), each by id."""
    records = load_records(s, scope_record_ids(s, scope), (*KEPT_STATUSES, FILTERED_OUT))
    return [r for r in records if r.status != FILTERED_OUT], [r for r in records if r.status == FILTERED_OUT]


def load_records(s: Session, ids: set[int], statuses: tuple[str, ...] | None = None) -> list[Record]:
    """The records among ``ids`` (with one of ``statuses`` when given), by id (batched reads)."""
    out: list[Record] = []
    ordered = sorted(ids)
    for i in range(0, len(ordered), 500):
        q = select(Record).where(Record.id.in_(ordered[i : i + 500]))
        out.extend(s.scalars(q if statuses is None else q.where(Record.status.in_(statuses))).all())
    out.sort(key=lambda r: r.id)
    return out


__all__ = [
    "EDIT_METHOD",
    "KEPT_STATUSES",
    "describe",
    "kept_and_filtered",
    "load_records",
    "make_scope",
    "scope_record_ids",
]
