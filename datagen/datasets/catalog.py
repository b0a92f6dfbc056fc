"""Reading datasets back: list versions, show one, load its records with their splits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datagen.datasets.ref import find_dataset
from datagen.store.engine import Store
from datagen.store.models import Dataset, DatasetItem, EvalSet, Record, Score


def list_datasets(store: Store) -> list[dict[str, Any]]:
    with store.session() as s:
        rows = s.scalars(select(Dataset).order_by(Dataset.name, Dataset.version)).all()
        return [
            {
                "name": d.name,
                "version": d.version,
                "records": d.counts.get("total", 0),
                "splits": d.counts.get("splits", {}),
                "forced": d.forced,
                "gate_passed": d.gate.get("passed"),
                "created_at": d.created_at.isoformat(),
            }
            for d in rows
        ]


def dataset_scores(s: Session, dataset_id: int) -> list[dict[str, Any]]:
    """The score runs of adapters trained on a dataset version: per score run its train run, eval set and, per
    metric, base, tuned and the difference tuned - base with its 95% interval (oldest first)."""
    rows = s.execute(
        select(Score, EvalSet.name)
        .outerjoin(EvalSet, EvalSet.id == Score.eval_set_id)
        .where(Score.dataset_id == dataset_id)
        .order_by(Score.run_id, Score.id)
    ).all()
    out: dict[int | None, dict[str, Any]] = {}
    for sc, eval_name in rows:
        entry = out.setdefault(sc.run_id, {"score_run": sc.run_id, "train_run": sc.train_run_id,
                                           "eval_set": eval_name, "n": sc.n, "metrics": {}})  # fmt: skip
        d = sc.details or {}
        entry["metrics"][sc.metric] = {"base": sc.base_value, "tuned": sc.tuned_value, "diff": d.get("diff"),
                                       "diff_ci": d.get("diff_ci")}  # fmt: skip
    return list(out.values())


def show_dataset(store: Store, ref: str, version: int | None = None) -> dict[str, Any]:
    with store.session() as s:
        d = find_dataset(s, ref, version)
        return {
            "scores": dataset_scores(s, d.id),
            "id": d.id,
            "name": d.name,
            "version": d.version,
            "run_id": d.run_id,
            "forced": d.forced,
            "gate": d.gate,
            "counts": d.counts,
            "source": d.source,
            "created_at": d.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Row:
    """One dataset item as exported: the record's text, its split and lineage fields."""

    id: int
    split: str
    cluster: str | None
    instruction: str
    input: str
    output: str
    method: str
    operation: str | None
    parent_id: int | None
    provider: str | None
    model: str | None
    messages: list[dict[str, str]] | None = None  # every turn of a conversation (datagen.conversation)


def load_rows(store: Store, ref: str, version: int | None = None) -> tuple[dict[str, Any], list[Row]]:
    """(dataset description, rows ordered by split then record id)."""
    info = show_dataset(store, ref, version)
    with store.session() as s:
        pairs = s.execute(
            select(DatasetItem, Record)
            .join(Record, Record.id == DatasetItem.record_id)
            .where(DatasetItem.dataset_id == info["id"])
            .order_by(DatasetItem.split, Record.id)
        ).all()
        rows = [
            Row(
                r.id,
                it.split,
                it.cluster,
                r.instruction,
                r.input or "",
                r.output or "",
                r.method,
                r.operation,
                r.parent_id,
                r.provider,
                r.model,
                r.messages,
            )
            for it, r in pairs
        ]
    return info, rows
