"""Decisions across reviewers: status follows the latest human decision; undo restores; edits supersede."""

from __future__ import annotations

from sqlalchemy import select

from datagen.review.auto import auto_review
from datagen.review.config import ReviewConfig
from datagen.review.sample import create_sample
from datagen.review.session import ReviewDecision, ReviewSession
from datagen.store.models import Record, Review
from tests.review_data import Spec, insert, population


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
        assert s.get(Record, revs[0].id).status == "approved"
        assert s.get(Record, revs[1].id) is None  # the undone edit took its revision with it
        undone = s.scalars(select(Review).where(Review.undone.is_(True), Review.decision == "edit")).all()
        assert [(r.reviewer, r.edited_record_id) for r in undone] == [("bob", None)]
    assert _status(store, rid) == ["rejected"]  # superseded by alice's revision


def _sample(store, n):
    run, _ = insert(store, population(n, 0))
    return create_sample(store, ReviewConfig(fraction=1.0, min_count=1, filtered_fraction=0), {"run": run})


def test_skipped_items_come_back_at_the_end_once_per_session_and_on_resume(store):
    sid = _sample(store, 4)
    alice = ReviewSession(store, sid, "alice")
    ids = [it.record_id for it in alice.items]
    alice.decide(ReviewDecision(ids[1], "skip"))
    alice.decide(ReviewDecision(ids[0], "skip"))
    assert alice.next_index() == 2
    alice.decide(ReviewDecision(ids[2], "accept"))
    alice.decide(ReviewDecision(ids[3], "accept"))
    assert alice.next_index() == 1  # the earliest skipped comes back first
    alice.decide(ReviewDecision(ids[1], "accept"))
    assert alice.next_index() == 0
    alice.decide(ReviewDecision(ids[0], "skip"))  # skipped again: not offered again in this session
    assert alice.next_index() is None
    resumed = ReviewSession(store, sid, "alice")
    assert resumed.next_index() == 0  # ... but on resume
    with store.session() as s:
        assert len(s.scalars(select(Review).where(Review.record_id == ids[0])).all()) == 1  # one skip row


def test_notes_on_the_last_decision_and_back_with_an_undone_item(store):
    sid = _sample(store, 2)
    alice = ReviewSession(store, sid, "alice")
    rid = alice.items[0].record_id
    assert alice.annotate_last("nothing yet") is None
    alice.decide(ReviewDecision(rid, "reject", "incorrect", note="wrong date"))
    assert alice.annotate_last("wrong date and year") == rid
    assert alice.decided()[rid].note == "wrong date and year"
    assert alice.undo() == rid
    assert alice.undone_note(rid) == "wrong date and year"
    assert alice.annotate_last("") is None


def test_an_undone_edit_keeps_a_revision_a_dataset_froze(store):
    from datagen.store.models import Dataset, DatasetItem

    sid = _sample(store, 2)
    alice = ReviewSession(store, sid, "alice")
    rid = alice.items[0].record_id
    alice.decide(ReviewDecision(rid, "edit", edit={"output": "Fixed."}))
    with store.session() as s:
        rev = s.scalars(select(Review.edited_record_id)).one()
        ds = Dataset(name="d", version=1)
        s.add(ds)
        s.flush()
        s.add(DatasetItem(dataset_id=ds.id, record_id=rev, split="train"))
    alice.decide(ReviewDecision(rid, "edit", edit={"output": "Fixed again."}))  # replaces the first edit
    with store.session() as s:
        assert s.get(Record, rev).status == "rejected"  # frozen in a dataset: kept, withdrawn
        [live] = s.scalars(select(Review).where(Review.undone.is_(False))).all()
        assert s.get(Record, live.edited_record_id).output == "Fixed again."
    alice.undo()
    with store.session() as s:
        assert s.get(Record, live.edited_record_id) is None
        assert s.scalars(select(Record).where(Record.method == "edit")).all()[0].id == rev


def test_view_shows_each_filters_pass_rule(store):
    from datagen.store.models import Run

    run, [rid] = insert(
        store,
        [
            Spec(
                instruction="Explain tides.",
                verdicts=[
                    ("adherence", 0.8, True, "ok", {"threshold": 0.45}),
                    ("perplexity", 31.0, True, "ok", {}),
                    ("heuristics", 0.1, True, "ok", {}),
                    ("length", 40.0, True, "ok", {}),
                    ("dedup", 0.2, True, "ok", {"threshold": 0.9}),
                    ("toxicity", 0.01, True, "ok", {"threshold": 0.3}),
                    ("custom", 1.0, True, "ok", {}),
                ],
            )
        ],
    )
    with store.session() as s:
        s.get(Run, run).config = {
            "settings": {"perplexity": {"threshold": 80.0}, "length": {"min_tokens": 5, "max_tokens": None}}
        }
    sid = create_sample(store, ReviewConfig(min_count=1, filtered_fraction=0), {"run": run})
    view = ReviewSession(store, sid, "alice").view(rid)
    assert {v["filter"]: v["limit"] for v in view["verdicts"]} == {
        "adherence": ">= 0.45",
        "custom": None,
        "dedup": "< 0.9",
        "heuristics": "<= 0.3",
        "length": ">= 5",
        "perplexity": "<= 80.0",
        "toxicity": "<= 0.3",
    }
