"""The only place where a record's status changes.

    generated ──filter──► candidate | filtered_out ──review──► approved | rejected
    (parse_failed is terminal: the raw text is kept for inspection)

Re-filtering (``--rescore``) may move a record between candidate and filtered_out again; a human decision
(approved/rejected) is never overwritten by a filter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session

from datagen.errors import DatagenError
from datagen.store.models import APPROVED, CANDIDATE, FILTERED_OUT, GENERATED, REJECTED, Record

_FILTERABLE = (GENERATED, CANDIDATE, FILTERED_OUT)
_REVIEWABLE = (CANDIDATE, FILTERED_OUT, APPROVED, REJECTED)
_CHUNK = 500


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _move(s: Session, ids: Iterable[int], to: str, allowed_from: tuple[str, ...]) -> int:
    ids = sorted(set(ids))
    moved = 0
    for chunk in _chunks(ids):
        res = s.execute(
            update(Record)
            .where(Record.id.in_(chunk), Record.status.in_(allowed_from))
            .values(status=to)
            .execution_options(synchronize_session=False)
        )
        moved += res.rowcount  # type: ignore[attr-defined]
    return moved


def mark_filtered(s: Session, kept: Iterable[int], dropped: Iterable[int]) -> tuple[int, int]:
    """After a filter pass: kept records become candidates, dropped ones filtered_out."""
    return _move(s, kept, CANDIDATE, _FILTERABLE), _move(s, dropped, FILTERED_OUT, _FILTERABLE)


def approve(s: Session, ids: Iterable[int]) -> int:
    """A reviewer accepted (or edited) these records."""
    return _move(s, ids, APPROVED, _REVIEWABLE)


def reject(s: Session, ids: Iterable[int]) -> int:
    """A reviewer rejected these records."""
    return _move(s, ids, REJECTED, _REVIEWABLE)


def reopen(s: Session, ids: Iterable[int]) -> int:
    """Undo a review decision: the record goes back to candidate."""
    return _move(s, ids, CANDIDATE, (APPROVED, REJECTED))


def require(record: Record, *statuses: str) -> None:
    if record.status not in statuses:
        raise DatagenError(f"record {record.id} is {record.status}, expected one of {', '.join(statuses)}")


def approve_revision(s: Session, ids: Iterable[int]) -> int:
    """A reviewer's edit created these new revisions (method "edit"): they enter the approved set directly."""
    return _move(s, ids, APPROVED, (GENERATED, REJECTED))
