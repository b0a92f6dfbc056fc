"""The latest verdict of each filter on each record (a rescore with a new filter version supersedes the old)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datagen.store.models import Run, Verdict


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


def pass_rules(s: Session, verdicts: dict[str, Verdict]) -> dict[str, str | None]:
    """filter name -> how its score passes (``"<= 100"``), from each verdict's details or else the resolved
    settings of the filter run that wrote it; None for a filter without a limit or not registered any more."""
    from filters.registry import FILTERS, filter_class

    runs = {v.run_id for v in verdicts.values() if v.run_id is not None}
    configs: dict[int | None, Any] = {}
    if runs:
        configs = {
            rid: cfg for rid, cfg in s.execute(select(Run.id, Run.config).where(Run.id.in_(runs))).all()
        }
    out: dict[str, str | None] = {}
    for name, v in verdicts.items():
        if name not in FILTERS:
            out[name] = None
            continue
        settings = ((configs.get(v.run_id) or {}).get("settings") or {}).get(name) or {}
        out[name] = filter_class(name).pass_rule(settings, v.details or {})
    return out
