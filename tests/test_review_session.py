"""Decisions across reviewers: status follows the latest human decision; undo restores; edits supersede."""

from __future__ import annotations

from sqlalchemy import select

from datagen.review.auto import auto_review
from datagen.review.config import ReviewConfig
from datagen.review.sample import create_sample
from datagen.review.session import ReviewDecision, ReviewSession
from datagen.store.models import Record, Review
from tests.review_data import insert, population


def _status(store, *ids):
    with store.session() as s:
        return [s.get(Record, i).status for i in ids]


def test_status_follows_latest_human_decision_and_undo(store):
    run, _ = insert(store, population(4, 0))
    sid = create_sample(store, ReviewConfig(fraction=1.0, min_count=1, filtered_fraction=0), {"run": run})
    alice, bob = ReviewSession(store, sid, "alice"), ReviewSession(store, sid, "bob")
    rid = alice.items[0].record_id
    auto_review(store, sid)
    assert _status(store, rid) == ["approved"]
    alice.decide(ReviewDecision(rid, "reject", "incorrect"))
    assert _status(store, rid) == ["rejected"]  # a human outranks the automatic accept
    bob.decide(ReviewDecision(rid, "accept"))
    assert _status(store, rid) == ["approved"]
    assert bob.undo() == rid
    assert _status(store, rid) == ["rejected"]  # alice's decision stands
    assert alice.undo() == rid
    assert _status(store, rid) == ["approved"]  # only the automatic accept is left
    assert alice.undo() is None
    assert alice.next_index() == 0 and bob.next_index() == 0


def test_redeciding_replaces_and_two_edits_keep_only_the_latest_revision(store):
    run, _ = insert(store, population(2, 0))
    sid = create_sample(store, ReviewConfig(fraction=1.0, min_count=1, filtered_fraction=0), {"run": run})
    alice, bob = ReviewSession(store, sid, "alice"), ReviewSession(store, sid, "bob")
    rid = alice.items[0].record_id
    alice.decide(ReviewDecision(rid, "accept"))
    alice.decide(
        ReviewDecision(rid, "skip")
    )  # a new decision on the same item replaces the reviewer's previous one
    assert len(alice.decided()) == 1 and alice.decided()[rid].decision == "skip"
    assert _status(store, rid) == ["candidate"]
    alice.decide(ReviewDecision(rid, "edit", edit={"output": "Alice's fix."}))
    bob.decide(ReviewDecision(rid, "edit", edit={"output": "Bob's fix."}))
    with store.session() as s:
        edits = s.scalars(select(Review).where(Review.decision == "edit").order_by(Review.id)).all()
        revs = [s.get(Record, e.edited_record_id) for e in edits]
        assert [(r.output, r.status) for r in revs] == [
            ("Alice's fix.", "rejected"),
            ("Bob's fix.", "approved"),
        ]
    bob.undo()
    with store.session() as s:
        assert [s.get(Record, r.id).status for r in revs] == ["approved", "rejected"]
    assert _status(store, rid) == ["rejected"]  # superseded by alice's revision
