"""Review decisions, independent of any UI: decide, undo, resume, and keep record statuses in step.

A decision is a ``Review`` row (accept, reject with a reason code, edit, skip; a free-text note on any) for one
sample item and one reviewer. Undo marks the reviewer's latest active decision ``undone`` (review rows are never
deleted). The queue is "the items this reviewer has no active decision on, by position, then the skipped ones,
earliest skipped first": a skipped item comes back at the end, in the same session and on resume (one that is
skipped again is not offered again in the same session, so the queue ends). An edit stores a NEW record (method
``edit``, ``parent_id`` = the original) linked from the review; the original is then rejected (superseded) and
the revision approved, so a dataset takes the edited text in place of the original. When an edit is undone or
replaced, its revision is deleted with it (no orphan revision), unless something took it up meanwhile (a
dataset froze it, a record derives from it, a review decided it): then it stays, rejected.

Record status follows the latest active decision on the record by any reviewer (humans over automatic ones):
accept -> approved, reject or edit -> rejected (plus the revision approved), none or skip -> candidate again
(filtered-out records keep that status: an edit of one is approved as a revision). All changes go through
``datagen.store.status``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from datagen.conversation import record_hash, with_fields
from datagen.errors import InputError
from datagen.review.scope import EDIT_METHOD
from datagen.review.verdicts import latest_verdicts, pass_rules
from datagen.store import status
from datagen.store.engine import Store
from datagen.store.models import (
    FILTERED_OUT,
    DatasetItem,
    Record,
    Review,
    ReviewSample,
    ReviewSampleItem,
)
from datagen.views import ancestors

DECISIONS = ("accept", "reject", "edit", "skip")
REASON_CODES = (
    "incorrect",
    "incomplete",
    "off_task",
    "unsafe",
    "low_quality",
    "duplicate",
    "formatting",
    "other",
)
FIELDS = ("instruction", "input", "output")


@dataclass(frozen=True)
class SampleItemView:
    position: int
    record_id: int
    stratum: str
    from_filtered: bool


@dataclass
class ReviewDecision:
    """One decision to apply; ``edit`` holds the new instruction/input/output for decision "edit"."""

    record_id: int
    decision: str
    reason_code: str | None = None
    edit: dict[str, str] | None = None
    note: str | None = None
    seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def validate(d: ReviewDecision, where: str = "") -> None:
    """Raise InputError naming ``where`` when a decision is malformed."""
    at = f" ({where})" if where else ""
    if d.decision not in DECISIONS:
        raise InputError(f"unknown decision {d.decision!r}{at}: use one of {', '.join(DECISIONS)}")
    if d.decision == "reject" and d.reason_code not in REASON_CODES:
        raise InputError(
            f"reject needs a reason code{at}, got {d.reason_code!r}: use one of {', '.join(REASON_CODES)}"
        )
    if d.decision != "reject" and d.reason_code not in (None, "") and d.reason_code not in REASON_CODES:
        raise InputError(f"unknown reason code {d.reason_code!r}{at}")
    if d.decision == "edit":
        if not d.edit or not any((v or "").strip() for v in d.edit.values()):
            raise InputError(f"edit needs at least one edited field{at}")
        if "instruction" in d.edit and not (d.edit["instruction"] or "").strip():
            raise InputError(f"edit would leave the instruction empty{at}")
        unknown = set(d.edit) - set(FIELDS)
        if unknown:
            raise InputError(f"edit has unknown fields {sorted(unknown)}{at}")


def active_reviews(s: Session, record_ids: list[int], sample_id: int | None = None) -> list[Review]:
    q = select(Review).where(Review.record_id.in_(record_ids), Review.undone.is_(False))
    if sample_id is not None:
        q = q.where(Review.sample_id == sample_id)
    return list(s.scalars(q.order_by(Review.id)).all())


def deciding_review(reviews: list[Review]) -> Review | None:
    """The latest active non-skip decision, a human's over an automatic one."""
    real = [r for r in reviews if r.decision != "skip"]
    chosen = [r for r in real if r.is_human] or real
    return chosen[-1] if chosen else None


def sync_statuses(s: Session, record_ids: list[int]) -> None:
    """Set records' (and their revisions') status from their deciding reviews; batched, a few queries per 500."""
    ids = sorted(set(record_ids))
    moves: dict[str, list[int]] = {"reopen": [], "approve": [], "reject": [], "keep": [], "drop": []}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        by: dict[int, list[Review]] = {rid: [] for rid in chunk}
        for r in active_reviews(s, chunk):
            by[r.record_id].append(r)
        statuses = dict(s.execute(select(Record.id, Record.status).where(Record.id.in_(chunk))).all())
        latest = {rid: deciding_review(rs) for rid, rs in by.items()}
        for rid in chunk:
            d = latest[rid]
            if statuses.get(rid) == FILTERED_OUT:
                continue  # the filtered-out slice measures the filters; a decision never rescues the original
            moves["reopen" if d is None else "approve" if d.decision == "accept" else "reject"].append(rid)
        edits = s.scalars(
            select(Review).where(Review.record_id.in_(chunk), Review.edited_record_id.is_not(None))
        ).all()
        for r in edits:
            d = latest[r.record_id]
            keep = d is not None and d.decision == "edit" and d.edited_record_id == r.edited_record_id
            moves["keep" if keep else "drop"].append(int(r.edited_record_id or 0))
    status.reopen(s, moves["reopen"])
    status.approve(s, moves["approve"])
    status.reject(s, moves["reject"] + moves["drop"])
    status.approve_revision(s, moves["keep"])
    s.expire_all()


class ReviewSession:
    """One reviewer working through one sample."""

    def __init__(
        self, store: Store, sample_id: int, reviewer: str, *, is_human: bool = True, run_id: int | None = None
    ) -> None:
        self.store = store
        self.sample_id = sample_id
        self.reviewer = reviewer
        self.is_human = is_human
        self.run_id = run_id
        with store.session() as s:
            if s.get(ReviewSample, sample_id) is None:
                raise InputError(f"review sample {sample_id} does not exist")
            rows = s.scalars(
                select(ReviewSampleItem)
                .where(ReviewSampleItem.sample_id == sample_id)
                .order_by(ReviewSampleItem.position)
            ).all()
            self.items = [SampleItemView(r.position, r.record_id, r.stratum, r.from_filtered) for r in rows]
        self._index = {it.record_id: i for i, it in enumerate(self.items)}
        self.passed: set[int] = set()  # skipped again in this session: not offered again until the next one

    def _mine(self) -> Select[Review]:
        """This reviewer's active (not undone) reviews in this sample."""
        return select(Review).where(
            Review.sample_id == self.sample_id, Review.reviewer == self.reviewer, Review.undone.is_(False)
        )

    def decided(self) -> dict[int, Review]:
        """record id -> this reviewer's active decision in this sample."""
        with self.store.session() as s:
            rows = s.scalars(self._mine().order_by(Review.id)).all()
        return {r.record_id: r for r in rows}

    def next_index(self, done: dict[int, Review] | None = None) -> int | None:
        """The next item to show: the first without an active decision by this reviewer, else the earliest
        skipped one not skipped again in this session (``done``: from ``decided()``, when the caller has it)."""
        done = self.decided() if done is None else done
        fresh = next((i for i, it in enumerate(self.items) if it.record_id not in done), None)
        if fresh is not None:
            return fresh
        skipped = sorted(
            (r.id, rid) for rid, r in done.items() if r.decision == "skip" and rid not in self.passed
        )
        return self._index[skipped[0][1]] if skipped else None

    def annotate_last(self, note: str | None) -> int | None:
        """Set (or clear, with None) the note of this reviewer's latest active decision; returns its record id."""
        with self.store.session() as s:
            last = s.scalars(self._mine().order_by(Review.id.desc()).limit(1)).first()
            if last is None:
                return None
            last.note = note or None
            return last.record_id

    def undone_note(self, record_id: int) -> str | None:
        """The note of this reviewer's latest undone decision on the record (brought back with the item)."""
        with self.store.session() as s:
            q = select(Review.note).where(
                Review.sample_id == self.sample_id,
                Review.reviewer == self.reviewer,
                Review.record_id == record_id,
                Review.undone.is_(True),
            )
            return s.scalars(q.order_by(Review.id.desc()).limit(1)).first()

    def view(self, record_id: int) -> dict[str, Any]:
        """What a reviewer sees: the record, its lineage (parents up to the root) and every filter verdict."""
        with self.store.session() as s:
            rec = s.get(Record, record_id)
            if rec is None:
                raise InputError(f"record {record_id} does not exist")
            lineage = [
                {"id": p.id, "method": p.method, "operation": p.operation, "text": p.instruction}
                for p in ancestors(s, rec, limit=20)
            ]
            verdicts = latest_verdicts(s, [record_id])[record_id]
            rules = pass_rules(s, verdicts)
            return {
                "id": rec.id,
                "method": rec.method,
                "operation": rec.operation,
                "round": rec.round,
                "status": rec.status,
                "model": rec.model,
                "instruction": rec.instruction,
                "input": rec.input,
                "output": rec.output,
                "messages": rec.messages,  # every turn of a conversation (datagen.review.turns shows them)
                "lineage": lineage,
                "verdicts": [
                    {"filter": n, "score": v.score, "limit": rules[n], "passed": v.passed, "reason": v.reason}
                    for n, v in sorted(verdicts.items())
                ],
            }

    def decide(self, decision: ReviewDecision) -> int:
        return self.decide_many([decision])[0]

    def decide_many(self, decisions: list[ReviewDecision]) -> list[int]:
        """Validate all, then apply all in one transaction (nothing half-applied); returns the review ids.

        A new decision replaces the reviewer's previous active one on the same item (marked ``undone``); a
        decision equal to the active one (the same sheet imported twice) changes nothing and keeps its id.
        """
        for d in decisions:
            validate(d, f"record {d.record_id}")
            if d.record_id not in self._index:
                raise InputError(f"record {d.record_id} is not in review sample {self.sample_id}")
        rids = sorted({d.record_id for d in decisions})
        with self.store.session() as s:
            active: dict[int, Review] = {}
            for i in range(0, len(rids), 500):
                for row in s.scalars(self._mine().where(Review.record_id.in_(rids[i : i + 500]))).all():
                    active[row.record_id] = row
            # The same item twice in one batch: the last decision stands.
            last = {d.record_id: d for d in decisions}
            rows = []
            for d in last.values():
                old = active.get(d.record_id)
                if old is not None and old.decision == "skip" and d.decision == "skip":
                    self.passed.add(d.record_id)
                if old is not None and _same(s, old, d):
                    rows.append(old)
                    continue
                if old is not None:
                    old.undone = True
                    withdraw_revision(s, old)
                review = Review(
                    record_id=d.record_id,
                    sample_id=self.sample_id,
                    reviewer=self.reviewer,
                    is_human=self.is_human,
                    decision=d.decision,
                    reason_code=d.reason_code or None,
                    edited_record_id=self._revision(s, d) if d.decision == "edit" else None,
                    note=d.note,
                    seconds=d.seconds,
                )
                s.add(review)
                rows.append(review)
            s.flush()
            sync_statuses(s, rids)
            return [r.id for r in rows]

    def _revision(self, s: Session, d: ReviewDecision) -> int:
        """Store an edit as a new record (method "edit", parent = the original); returns its id."""
        assert d.edit is not None
        orig = s.get(Record, d.record_id)
        assert orig is not None
        new = {f: d.edit.get(f, getattr(orig, f)) or "" for f in FIELDS}
        # a conversation's edit changes its first user turn and its last answer; the other turns stay
        turns = with_fields(orig.messages, **new) if orig.messages else None
        rev = Record(
            uid=f"edit-{orig.id}-{uuid.uuid4().hex}",
            run_id=self.run_id or orig.run_id,
            parent_id=orig.id,
            method=EDIT_METHOD,
            operation=None,
            round=orig.round,
            is_classification=orig.is_classification,
            content_hash=record_hash(new["instruction"], new["input"], new["output"], turns),
            messages=turns,
            meta={"edited_by": self.reviewer, "original_method": orig.method, "original_op": orig.operation},
            **new,
        )
        s.add(rev)
        s.flush()
        return rev.id

    def undo(self) -> int | None:
        """Withdraw this reviewer's latest active decision in the sample; returns its record id (or None)."""
        with self.store.session() as s:
            last = s.scalars(self._mine().order_by(Review.id.desc()).limit(1)).first()
            if last is None:
                return None
            last.undone = True
            withdraw_revision(s, last)
            s.flush()
            sync_statuses(s, [last.record_id])
            return last.record_id


def withdraw_revision(s: Session, review: Review) -> None:
    """Delete the revision of an undone edit (and unlink it), unless a dataset froze it, a record derives from
    it or a review decided it: then it stays, and ``sync_statuses`` rejects it."""
    rid = review.edited_record_id
    if rid is None:
        return
    for q in (
        select(DatasetItem.record_id).where(DatasetItem.record_id == rid),
        select(Record.id).where(Record.parent_id == rid),
        select(Review.id).where(Review.record_id == rid),
        select(Review.id).where(Review.edited_record_id == rid, Review.id != review.id),
        select(ReviewSampleItem.id).where(ReviewSampleItem.record_id == rid),
    ):
        if s.scalars(q.limit(1)).first() is not None:
            return
    review.edited_record_id = None
    s.flush()
    s.execute(delete(Record).where(Record.id == rid))


def _same(s: Session, old: Review, d: ReviewDecision) -> bool:
    """Whether decision ``d`` is what ``old`` already says (an edit: to the same text)."""
    if (old.decision, old.reason_code or None, old.note) != (d.decision, d.reason_code or None, d.note):
        return False
    if d.decision != "edit":
        return True
    assert d.edit is not None
    rev = s.get(Record, old.edited_record_id) if old.edited_record_id else None
    orig = s.get(Record, old.record_id)
    if rev is None or orig is None:
        return False
    new = {f: d.edit.get(f, getattr(orig, f)) or "" for f in FIELDS}
    return all(getattr(rev, f) == new[f] for f in FIELDS)
