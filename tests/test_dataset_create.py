"""Dataset creation: the gate, what "approved" means, deterministic stratified splits, no duplicate leakage."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest
from sqlalchemy import select

from datagen.datasets.catalog import list_datasets, show_dataset
from datagen.datasets.config import DatasetConfig
from datagen.datasets.create import GateRefused, create_dataset
from datagen.review.auto import auto_review
from datagen.review.config import ReviewConfig
from datagen.review.sample import create_sample
from datagen.review.session import ReviewDecision, ReviewSession
from datagen.review.stats import review_stats
from datagen.store.models import Dataset, DatasetItem
from tests.review_data import Spec, insert, population, random_vectors, store_vectors


def _items(store, name, version):
    with store.session() as s:
        ds = s.scalars(select(Dataset).where(Dataset.name == name, Dataset.version == version)).one()
        rows = s.scalars(select(DatasetItem).where(DatasetItem.dataset_id == ds.id)).all()
        return {r.record_id: (r.split, r.cluster) for r in rows}


def test_gate_refuses_then_force_is_recorded(store):
    run, ids = insert(store, population(20, 0))
    store_vectors(store, random_vectors(ids))
    with pytest.raises(GateRefused, match=r"reviewed fraction 0\.000"):
        create_dataset(store, DatasetConfig(name="d", run=run))
    name, version = create_dataset(store, DatasetConfig(name="d", run=run, force=True))
    info = show_dataset(store, "d", version)
    assert (name, version, info["forced"]) == ("d", 1, True)
    assert info["gate"]["passed"] is False and len(info["gate"]["failures"]) == 2


def test_gate_floor_on_acceptance_lower_bound(store):
    run, ids = insert(store, population(20, 0))
    store_vectors(store, random_vectors(ids))
    sid = create_sample(store, ReviewConfig(min_count=10, filtered_fraction=0), {"run": run})
    sess = ReviewSession(store, sid, "alice")
    items = [it.record_id for it in sess.items]
    sess.decide_many(
        [ReviewDecision(r, "accept") for r in items[:8]]
        + [ReviewDecision(r, "reject", "incorrect") for r in items[8:]]
    )
    # 8/10 accepted: Wilson lower bound 0.490
    with pytest.raises(GateRefused, match=r"acceptance lower bound 0\.490"):
        create_dataset(store, DatasetConfig(name="d", run=run, acceptance_floor=0.5))
    name, version = create_dataset(store, DatasetConfig(name="d", run=run, acceptance_floor=0.45))
    info = show_dataset(store, name, version)
    assert info["gate"]["passed"] is True and info["forced"] is False
    assert info["counts"]["total"] == 18  # 20 kept - 2 rejected


@pytest.mark.slow  # the edited revision has no stored vector: MiniLM embeds it
def test_approved_means_kept_not_rejected_edits_applied(store):
    specs = population(6, 2)
    run, ids = insert(store, specs)
    store_vectors(store, random_vectors(ids))
    sid = create_sample(store, ReviewConfig(fraction=1.0, min_count=1, filtered_fraction=1.0), {"run": run})
    sess = ReviewSession(store, sid, "alice", run_id=run)
    sess.decide_many(
        [
            ReviewDecision(ids[0], "accept"),
            ReviewDecision(ids[1], "reject", "incorrect"),
            ReviewDecision(
                ids[2], "edit", edit={"instruction": "Explain topic two well.", "output": "Fixed."}
            ),
            ReviewDecision(ids[6], "accept"),  # filtered-out slice: measured, not rescued
        ]
    )
    name, version = create_dataset(store, DatasetConfig(name="d", run=run, force=True))
    items = _items(store, name, version)
    edited = [rid for rid in items if rid not in ids]
    assert len(edited) == 1
    assert set(items) == {ids[0], ids[3], ids[4], ids[5], *edited}
    assert show_dataset(store, "d")["counts"]["edited"] == 1
    # undoing the edit (the latest decision) and the reject brings both originals back
    assert sess.undo() == ids[6]
    assert sess.undo() == ids[2]
    assert sess.undo() == ids[1]
    _, v2 = create_dataset(store, DatasetConfig(name="d", run=run, force=True))
    assert set(_items(store, "d", v2)) == set(ids[:6])


def test_splits_are_deterministic_stratified_and_exact(store):
    run, ids = insert(store, population(100, 0))
    store_vectors(store, random_vectors(ids))
    cfg = DatasetConfig(name="d", run=run, force=True, sticky_splits=False)
    create_dataset(store, cfg)
    create_dataset(store, cfg)
    create_dataset(store, cfg.model_copy(update={"seed": 5}))
    a, b, c = (_items(store, "d", v) for v in (1, 2, 3))
    assert a == b and a != c
    assert Counter(s for s, _ in a.values()) == {"train": 80, "validation": 10, "test": 10}
    per = defaultdict(Counter)
    meth = {rid: ("evol" if i % 2 == 0 else "self") for i, rid in enumerate(ids)}
    for rid, (split, _) in a.items():
        per[meth[rid]][split] += 1
    assert per["evol"] == {"train": 40, "validation": 5, "test": 5}
    assert per["self"] == {"train": 40, "validation": 5, "test": 5}
    assert [d["version"] for d in list_datasets(store)] == [1, 2, 3]


def test_near_duplicate_clusters_never_cross_splits(store):
    specs = [Spec(instruction=f"Question {i} about something unique.") for i in range(60)]
    specs.append(Spec(instruction="Question 0 about something unique."))  # exact duplicate of record 0
    run, ids = insert(store, specs)
    vecs = random_vectors(ids, seed=3)
    rng = np.random.default_rng(9)
    groups = [ids[i : i + 6] for i in range(0, 30, 6)]  # five planted clusters of six paraphrases
    for g in groups:
        for rid in g[1:]:
            vecs[rid] = vecs[g[0]] + rng.normal(scale=0.01, size=384)
    store_vectors(store, vecs)
    # a dedup verdict (annotate-only) naming a duplicate joins two otherwise distinct records
    with store.session() as s:
        from datagen.store.models import Verdict

        s.add(Verdict(record_id=ids[50], filter_name="dedup", filter_version="1", score=0.95, passed=True,
                      reason="ok", details={"duplicate_of": ids[55]}))  # fmt: skip
    create_dataset(store, DatasetConfig(name="d", run=run, force=True))
    items = _items(store, "d", 1)
    for g in groups:
        assert len({items[r][0] for r in g}) == 1 and len({items[r][1] for r in g}) == 1
    assert items[ids[0]] == items[ids[60]]
    assert items[ids[50]] == items[ids[55]]
    counts = show_dataset(store, "d")["counts"]
    assert counts["multi_member_clusters"] == 6 and counts["clusters"] == 61 - 25 - 1 - 1
    assert Counter(s for s, _ in items.values())["train"] >= 45


def test_sticky_splits_keep_previous_assignments(store):
    _, ids = insert(store, population(50, 0))
    store_vectors(store, random_vectors(ids))
    create_dataset(store, DatasetConfig(name="d", force=True))
    _, ids2 = insert(store, population(50, 0))
    store_vectors(store, random_vectors(ids2, seed=1))
    create_dataset(store, DatasetConfig(name="d", force=True))
    v1, v2 = _items(store, "d", 1), _items(store, "d", 2)
    assert all(v2[r][0] == v1[r][0] for r in v1)
    assert len(v2) == 100


def test_auto_review_is_marked_and_passes_gate(store):
    run, ids = insert(store, population(40, 10))
    store_vectors(store, random_vectors(ids))
    sid = create_sample(store, ReviewConfig(min_count=10, filtered_fraction=0.2), {"run": run})
    out = auto_review(store, sid)
    assert out == {"sample_id": sid, "reviewer": "auto", "is_human": False, "decided": 12, "accepted": 10,
                   "rejected": 2, "already_decided": 0}  # fmt: skip
    assert auto_review(store, sid)["decided"] == 0
    name, version = create_dataset(store, DatasetConfig(name="d", run=run, acceptance_floor=0.6))
    gate = show_dataset(store, name, version)["gate"]
    assert gate["passed"] and gate["automatic"] == 10 and gate["human"] == 0
    assert review_stats(store, sid)["filters"] == {}  # filters are never measured against their own echo
    with pytest.raises(GateRefused, match=r"reviewed fraction 0\.000 \(0 of 40\)"):
        create_dataset(store, DatasetConfig(name="d", run=run, require_human=True))


@pytest.mark.slow
def test_paraphrases_cluster_with_real_minilm(store):
    texts = [
        "How do I bake sourdough bread at home?",
        "What is the way to bake sourdough bread at home?",
        "Explain the causes of the French Revolution.",
        "Write a haiku about the ocean.",
        "List three prime numbers greater than fifty.",
    ]
    run, ids = insert(store, [Spec(instruction=t) for t in texts])
    create_dataset(store, DatasetConfig(name="d", run=run, force=True, cluster_threshold=0.85))
    items = _items(store, "d", 1)
    assert items[ids[0]] == items[ids[1]]
    assert len({items[i][1] for i in ids}) == 4
    assert show_dataset(store, "d")["source"]["embeddings"]["computed_vectors"] == 5


def test_stored_vectors_are_reused_only_for_the_same_text(store):
    from datagen.datasets.clusters import stored_vectors
    from datagen.store.models import Embedding, Record

    _, ids = insert(store, population(4, 0))
    store_vectors(store, random_vectors(ids))
    with store.session() as s:
        # a vector of another text (dedup on `field: text`, or a record edited since) must not be reused
        s.get(Embedding, (ids[1], "all-minilm-l6-v2")).text_hash = "0" * 64
        s.get(Embedding, (ids[2], "all-minilm-l6-v2")).model = "another-model"
    with store.session() as s:
        records = list(s.scalars(select(Record).where(Record.id.in_(ids)).order_by(Record.id)))
        found = stored_vectors(s, records, {"all-minilm-l6-v2"})
    assert sorted(found) == [ids[0], ids[3]]
