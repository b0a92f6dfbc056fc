"""Which records a filter run judges (``FilterConfig.scope``), read in batches, and how many there are."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, or_, select

from datagen.errors import InputError
from datagen.store.engine import Store
from datagen.store.models import CANDIDATE, FILTERED_OUT, GENERATED, Record, Verdict
from filters.base import RecordView
from filters.config import FilterConfig

FILTERABLE = (GENERATED, CANDIDATE, FILTERED_OUT)
VIEW_COLUMNS = (
    Record.id,
    Record.instruction,
    Record.input,
    Record.output,
    Record.method,
    Record.meta,
    Record.messages,
)


def count_selected(store: Store, cfg: FilterConfig) -> int:
    """How many records ``iter_batches`` will yield (as of now: the total its progress is shown against)."""
    with store.session() as s:
        n = s.scalar(select(func.count()).select_from(_selected(cfg).subquery())) or 0
    return min(n, cfg.limit) if cfg.limit else n


def iter_batches(store: Store, cfg: FilterConfig) -> Iterator[list[RecordView]]:
    """Records in id order, one short read per batch (keyset paging: statuses may change as we go)."""
    q = _selected(cfg)
    last, left = 0, cfg.limit
    while left is None or left > 0:
        size = cfg.batch_size if left is None else min(cfg.batch_size, left)
        with store.session() as s:
            rows = s.execute(q.where(Record.id > last).order_by(Record.id).limit(size)).all()
        if not rows:
            return
        yield [_view(r) for r in rows]
        last = rows[-1][0]
        left = None if left is None else left - len(rows)


def load_views(store: Store, ids: list[int]) -> list[RecordView]:
    """These records, in id order (a batch of a shared run: ``filters.shared``)."""
    with store.session() as s:
        rows = s.execute(select(*VIEW_COLUMNS).where(Record.id.in_(ids)).order_by(Record.id)).all()
    return [_view(r) for r in rows]


def _view(r: Any) -> RecordView:
    return RecordView(r[0], r[1] or "", r[2] or "", r[3] or "", r[4] or "", dict(r[5] or {}), r[6])


def _selected(cfg: FilterConfig) -> Any:
    q = select(*VIEW_COLUMNS)
    if cfg.scope == "new":
        q = q.where(Record.status == GENERATED)
    else:
        # A record stays filtered_out while a failed verdict from outside this chain stands (a generation-time
        # rejection, or a filter not configured now): re-running these filters cannot bring it back.
        outside = select(Verdict.record_id).where(
            Verdict.passed.is_(False), Verdict.filter_name.not_in(cfg.filters)
        )
        q = q.where(
            Record.status.in_(FILTERABLE), or_(Record.status != FILTERED_OUT, Record.id.not_in(outside))
        )
    if cfg.scope == "run":
        if cfg.run_id is None:
            raise InputError("scope 'run' needs a run id (--run ID)")
        q = q.where(Record.run_id == cfg.run_id)
    return q
