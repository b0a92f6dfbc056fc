"""The latest verdict of each filter on each record (a rescore with a new filter version supersedes the old)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from datagen.store.models import Verdict


def latest_verdicts(s: Session, record_ids: Iterable[int]) -> dict[int, dict[str, Verdict]]:
    ids = sorted(set(record_ids))
    out: dict[int, dict[str, Verdict]] = {i: {} for i in ids}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        for v in s.scalars(select(Verdict).where(Verdict.record_id.in_(chunk)).order_by(Verdict.id)).all():
            out[v.record_id][v.filter_name] = v  # later rows win
    return out


def first_failure(verdicts: dict[str, Verdict]) -> str:
    """The reason of the first failing filter (by name), or "ok"."""
    for name in sorted(verdicts):
        if not verdicts[name].passed:
            return f"{name}:{verdicts[name].reason}"
    return "ok"
