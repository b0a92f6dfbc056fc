"""Read-only queries behind ``runs``, ``show`` and ``stats`` (plain dicts, JSON-ready)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datagen.errors import InputError
from datagen.store import lease
from datagen.store.engine import Store
from datagen.store.models import Payment, Record, RequestFailure, Review, Run, Score, Verdict
from datagen.urls import masked_data


def _row(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns if c.key not in skip}


def _seconds(run: Run) -> float | None:
    if run.finished_at is None:
        return None
    return round((run.finished_at - run.started_at).total_seconds(), 2)


def _status(run: Run) -> dict[str, Any]:
    """A run's status as shown: a ``running`` run whose process is gone (``datagen.store.lease``) is shown as
    ``interrupted`` with ``stale: true`` (a rerun resumes it; the next run started marks it so for good)."""
    stale = run.status == "running" and not lease.is_alive(run)
    return {"status": "interrupted" if stale else run.status, "stale": stale}


def list_runs(store: Store, kind: str | None = None, limit: int = 30) -> list[dict[str, Any]]:
    with store.session() as s:
        q = select(Run).order_by(Run.id.desc()).limit(limit)
        if kind:
            q = q.where(Run.kind == kind)
        rows = [{**_row(r, ("config", "error")), "seconds": _seconds(r), **_status(r)} for r in s.scalars(q)]
        return masked_data(rows)  # type: ignore[no-any-return]


def run_detail(store: Store, run_id: int) -> dict[str, Any]:
    with store.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise InputError(f"no run with id {run_id}")
        n = s.scalar(select(func.count()).select_from(Record).where(Record.run_id == run_id))
        scores = [
            {
                "metric": r.metric,
                "base": r.base_value,
                "tuned": r.tuned_value,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "n": r.n,
                "train_run_id": r.train_run_id,
                "dataset_id": r.dataset_id,
            }
            for r in s.scalars(select(Score).where(Score.run_id == run_id).order_by(Score.id))
        ]
        failures = s.scalar(
            select(func.count()).select_from(RequestFailure).where(RequestFailure.run_id == run_id)
        )
        return {
            **masked_data(_row(run)),  # runs stored before passwords were masked show none either
            **_status(run),
            "seconds": _seconds(run),
            "records": n,
            "failed_requests": failures,
            "scores": scores,
        }


def ancestors(s: Session, record: Record, limit: int = 100) -> list[Record]:
    """The record's parents, nearest first, up to the root (or ``limit``)."""
    out: list[Record] = []
    parent_id = record.parent_id
    while parent_id is not None and len(out) < limit:
        parent = s.get(Record, parent_id)
        if parent is None:
            break
        out.append(parent)
        parent_id = parent.parent_id
    return out


def record_detail(store: Store, record_id: int) -> dict[str, Any]:
    """The record, its ancestors (parent first), its direct children, verdicts and reviews."""
    with store.session() as s:
        rec = s.get(Record, record_id)
        if rec is None:
            raise InputError(f"no record with id {record_id}")
        children = [
            _row(c)
            for c in s.scalars(select(Record).where(Record.parent_id == record_id).order_by(Record.id))
        ]
        verdicts = [
            _row(v)
            for v in s.scalars(select(Verdict).where(Verdict.record_id == record_id).order_by(Verdict.id))
        ]
        reviews = [
            _row(r)
            for r in s.scalars(select(Review).where(Review.record_id == record_id).order_by(Review.id))
        ]
        return {
            "record": _row(rec),
            "ancestors": [_row(a) for a in ancestors(s, rec)],
            "children": children,
            "verdicts": verdicts,
            "reviews": reviews,
        }


def stats(store: Store, run_id: int | None = None) -> dict[str, Any]:
    """Records by status, method and operation; verdicts by filter and reason; and what was paid (cost and
    tokens of the requests actually made: the ``payments`` ledger, written with each cached answer, so it holds
    after any kill; with ``run_id``, that run's payments). Paid, not summed over records: a record carries the
    cost of the responses it came from, and one response may feed several records (a replay builds a record in
    another run, two identical prompts share one); an answer paid twice (two processes asked at once) counts
    twice."""
    with store.session() as s:

        def grouped(col: Any) -> dict[str, int]:
            q = select(col, func.count()).group_by(col).order_by(func.count().desc())
            if run_id is not None:
                q = q.where(Record.run_id == run_id)
            return {str(k) if k is not None else "": n for k, n in s.execute(q)}

        totals = select(func.count()).select_from(Record)
        vq = (
            select(Verdict.filter_name, Verdict.reason, func.count())
            .group_by(Verdict.filter_name, Verdict.reason)
            .order_by(Verdict.filter_name, func.count().desc())
        )
        if run_id is not None:
            totals = totals.where(Record.run_id == run_id)
            vq = vq.join(Record, Record.id == Verdict.record_id).where(Record.run_id == run_id)
        n = s.execute(totals).scalar_one()
        paid = select(
            func.coalesce(func.sum(Payment.cost_usd), 0.0),
            func.coalesce(func.sum(Payment.prompt_tokens), 0),
            func.coalesce(func.sum(Payment.completion_tokens), 0),
            func.count(),
        )
        if run_id is not None:
            paid = paid.where(Payment.run_id == run_id)
        cost, ptok, ctok, answers = s.execute(paid).one()
        return {
            "records": n,
            "by_status": grouped(Record.status),
            "by_method": grouped(Record.method),
            "by_operation": grouped(Record.operation),
            "verdicts": [{"filter": f, "reason": r, "count": c} for f, r, c in s.execute(vq)],
            "paid_answers": int(answers or 0),
            "cost_usd": float(cost or 0.0),
            "prompt_tokens": int(ptok or 0),
            "completion_tokens": int(ctok or 0),
        }
