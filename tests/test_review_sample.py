"""Sampling: reproducible for a seed, stratified by method/operation/score bucket, with a filtered-out slice."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from datagen.review.config import ReviewConfig
from datagen.review.sample import allocate, create_sample, latest_sample
from datagen.store.models import ReviewSample, ReviewSampleItem
from tests.review_data import insert, population


def _items(store, sid):
    with store.session() as s:
        rows = s.scalars(
            select(ReviewSampleItem)
            .where(ReviewSampleItem.sample_id == sid)
            .order_by(ReviewSampleItem.position)
        ).all()
        return [(r.record_id, r.stratum, r.from_filtered) for r in rows]


def test_same_seed_same_sample_other_seed_other_sample(store):
    run, _ = insert(store, population(200, 20))
    cfg = ReviewConfig(seed=7, fraction=0.1, min_count=5, filtered_fraction=0.1)
    a = _items(store, create_sample(store, cfg, {"run": run}))
    b = _items(store, create_sample(store, cfg, {"run": run}))
    c = _items(store, create_sample(store, ReviewConfig(seed=8, fraction=0.1, min_count=5), {"run": run}))
    assert a == b
    assert {x[0] for x in a if not x[2]} != {x[0] for x in c if not x[2]}
    assert latest_sample(store, {"run": run}) == 3


def test_sample_size_and_strata(store):
    run, ids = insert(store, population(200, 20))
    sid = create_sample(
        store, ReviewConfig(seed=1, fraction=0.1, min_count=5, filtered_fraction=0.1), {"run": run}
    )
    items = _items(store, sid)
    kept = [x for x in items if not x[2]]
    dropped = [x for x in items if x[2]]
    assert len(kept) == 20 and len(dropped) == 2
    assert all(rid in ids[200:] for rid, _, _ in dropped)
    assert {st for _, st, _ in dropped} == {"filtered/judge"}
    counts = Counter(st for _, st, _ in kept)
    # judge scores give 3 buckets; two method/operation pairs -> 6 strata, each with its share of 20
    assert set(counts) == {
        f"{m}/{b}" for m in ("evol_instruct/deepening", "self_instruct/-") for b in ("b1", "b2", "b3")
    }
    with store.session() as s:
        strata = s.get(ReviewSample, sid).strata
    assert sum(v for k, v in strata.items() if not k.startswith("filtered")) == 200
    for st, k in counts.items():
        assert abs(k - 20 * strata[st] / 200) < 1.0


def test_min_count_applies_to_small_populations(store):
    run, _ = insert(store, population(30, 0))
    sid = create_sample(store, ReviewConfig(fraction=0.05, min_count=12, filtered_fraction=0), {"run": run})
    assert len(_items(store, sid)) == 12


def test_allocate_largest_remainder():
    assert allocate({"a": 50, "b": 30, "c": 20}, 10) == {"a": 5, "b": 3, "c": 2}
    assert allocate({"a": 97, "b": 2, "c": 1}, 10) == {"a": 8, "b": 1, "c": 1}
    assert allocate({"a": 3, "b": 1}, 10) == {"a": 3, "b": 1}
