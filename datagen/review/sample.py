"""Drawing a reproducible, stratified review sample.

Strata are ``method/operation/bucket``: the bucket is the tertile (``buckets`` quantiles) of one filter's score
within the population, so low- and high-scoring records are both seen. The sample size is
``max(min_count, ceil(fraction * N))`` split across strata by largest remainder (every stratum gets at least one
item when the size allows), and drawn in each stratum with a ``random.Random`` seeded from (seed, stratum):
the same seed over the same records gives the same sample. A slice of filtered-out records is added (stratum
``filtered/<first failing filter>``) so the statistics can measure the filters' recall. Items are shown in a
seeded shuffled order so the reviewer meets strata mixed.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select

from datagen.errors import InputError
from datagen.review.config import ReviewConfig
from datagen.review.scope import describe, kept_and_filtered
from datagen.review.verdicts import first_failure, latest_verdicts
from datagen.store.engine import Store
from datagen.store.models import Record, ReviewSample, ReviewSampleItem, Verdict


def pick_score_filter(verdicts: dict[int, dict[str, Verdict]], wanted: str) -> str | None:
    """The filter whose score buckets the strata: the named one, or the one scoring most records."""
    if wanted != "auto":
        return None if wanted == "none" else wanted
    counts: Counter[str] = Counter()
    for vs in verdicts.values():
        counts.update(name for name, v in vs.items() if v.score is not None)
    if not counts:
        return None
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def stratify(
    records: list[Record], verdicts: dict[int, dict[str, Verdict]], cfg: ReviewConfig
) -> dict[int, str]:
    """record id -> ``method/operation/bucket`` (bucket ``b1..bk`` by score quantile, ``na`` without a score)."""
    name = pick_score_filter(verdicts, cfg.score_filter)
    scores = {}
    if name is not None:
        for r in records:
            v = verdicts.get(r.id, {}).get(name)
            if v is not None and v.score is not None:
                scores[r.id] = float(v.score)
    ordered = sorted(scores.values())
    cuts = (
        []
        if not ordered
        else [
            ordered[min(len(ordered) - 1, (len(ordered) * q) // cfg.buckets)] for q in range(1, cfg.buckets)
        ]
    )
    out = {}
    for r in records:
        bucket = f"b{1 + sum(scores[r.id] >= c for c in cuts)}" if r.id in scores else "na"
        out[r.id] = f"{r.method}/{r.operation or '-'}/{bucket}"
    return out


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Proportional allocation of ``n`` over strata by largest remainder; at least one each when n allows."""
    total = sum(sizes.values())
    if total == 0 or n <= 0:
        return {k: 0 for k in sizes}
    n = min(n, total)
    keys = sorted(sizes)
    base = {k: 1 if n >= len(keys) and sizes[k] > 0 else 0 for k in keys}
    rest = n - sum(base.values())
    quotas = {k: rest * sizes[k] / total for k in keys}
    alloc = {k: base[k] + min(int(quotas[k]), sizes[k] - base[k]) for k in keys}
    order = sorted(keys, key=lambda k: (-(quotas[k] - int(quotas[k])), k))
    while sum(alloc.values()) < n:
        progressed = False
        for k in order:
            if sum(alloc.values()) >= n:
                break
            if alloc[k] < sizes[k]:
                alloc[k] += 1
                progressed = True
        if not progressed:
            break
    return alloc


def _draw(groups: dict[str, list[int]], alloc: dict[str, int], seed: int) -> list[tuple[int, str]]:
    picked: list[tuple[int, str]] = []
    for stratum in sorted(groups):
        rng = random.Random(f"{seed}:{stratum}")
        ids = sorted(groups[stratum])
        picked.extend((rid, stratum) for rid in sorted(rng.sample(ids, alloc.get(stratum, 0))))
    return picked


def create_sample(store: Store, cfg: ReviewConfig, scope: dict[str, Any], run_id: int | None = None) -> int:
    """Draw and store a sample of ``scope`` (``run_id``: the run drawing it); returns its id.

    Raises InputError when the scope has no filtered records to review.
    """
    with store.session() as s:
        kept, dropped = kept_and_filtered(s, scope)
        dropped = dropped if cfg.filtered_fraction > 0 else []
        verdicts = latest_verdicts(s, [r.id for r in kept] + [r.id for r in dropped])
    if not kept and not dropped:
        raise InputError(
            f"nothing to review in {describe(scope)}: no filtered records (run `datagen filter`)"
        )
    strata = stratify(kept, verdicts, cfg)
    groups: dict[str, list[int]] = defaultdict(list)
    for rid, st in strata.items():
        groups[st].append(rid)
    n = min(len(kept), max(cfg.min_count, math.ceil(cfg.fraction * len(kept))))
    picked = _draw(groups, allocate({k: len(v) for k, v in groups.items()}, n), cfg.seed)

    fgroups: dict[str, list[int]] = defaultdict(list)
    for r in dropped:
        fgroups[f"filtered/{first_failure(verdicts.get(r.id, {})).split(':')[0]}"].append(r.id)
    nf = math.ceil(cfg.filtered_fraction * len(dropped)) if dropped else 0
    fpicked = _draw(fgroups, allocate({k: len(v) for k, v in fgroups.items()}, nf), cfg.seed)

    items = [(rid, st, False) for rid, st in picked] + [(rid, st, True) for rid, st in fpicked]
    random.Random(f"{cfg.seed}:order").shuffle(items)
    population = {k: len(v) for k, v in sorted(groups.items())}
    population.update({k: len(v) for k, v in sorted(fgroups.items())})
    with store.session() as s:
        sample = ReviewSample(
            run_id=run_id,
            scope=scope,
            seed=cfg.seed,
            fraction=cfg.fraction,
            min_count=cfg.min_count,
            filtered_fraction=cfg.filtered_fraction,
            strata=population,
        )
        s.add(sample)
        s.flush()
        s.add_all(
            ReviewSampleItem(sample_id=sample.id, record_id=rid, position=i, stratum=st, from_filtered=f)
            for i, (rid, st, f) in enumerate(items)
        )
        return sample.id


def latest_sample(store: Store, scope: dict[str, Any]) -> int | None:
    """The newest sample drawn over exactly this scope (to resume it), or None."""
    with store.session() as s:
        for sample in s.scalars(select(ReviewSample).order_by(ReviewSample.id.desc())).all():
            if sample.scope == scope:
                return sample.id
    return None
