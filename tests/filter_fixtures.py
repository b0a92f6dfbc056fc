"""Helpers for the filter tests: insert records straight into the store (one run, one transaction)."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from datagen.store.models import Record, Run, Verdict


def add_records(store: Any, rows: list[dict[str, Any]], status: str = "generated") -> list[int]:
    """Insert records (instruction/input/output/method/meta) and return their ids in order."""
    with store.session() as s:
        run = Run(kind="generate", config={})
        s.add(run)
        s.flush()
        recs = []
        for i, row in enumerate(rows):
            text = f"{row.get('instruction', '')}|{row.get('input', '')}|{row.get('output', '')}|{i}"
            h = hashlib.sha256(text.encode()).hexdigest()
            recs.append(
                Record(
                    uid=h,
                    run_id=run.id,
                    method=row.get("method", "self_instruct"),
                    instruction=row.get("instruction", ""),
                    input=row.get("input", ""),
                    output=row.get("output", ""),
                    meta=row.get("meta", {}),
                    status=row.get("status", status),
                    content_hash=h,
                )
            )
        s.add_all(recs)
        s.flush()
        return [r.id for r in recs]


def statuses(store: Any) -> dict[int, str]:
    with store.session() as s:
        return dict(s.execute(select(Record.id, Record.status)).tuples().all())


def verdicts(store: Any, name: str | None = None) -> dict[tuple[int, str], Verdict]:
    with store.session() as s:
        q = select(Verdict)
        if name:
            q = q.where(Verdict.filter_name == name)
        return {(v.record_id, v.filter_name): v for v in s.scalars(q)}


LONG_OUTPUT = (
    "Photosynthesis is the process by which green plants use sunlight, water and carbon dioxide to make "
    "glucose and release oxygen into the air around them."
)
