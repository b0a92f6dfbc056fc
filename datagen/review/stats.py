"""Review statistics: acceptance with Wilson intervals, defect estimate, filter agreement, reviewer agreement.

Definitions (what a careful reader needs to trust the numbers):

* A record's decision is the latest active (not undone), non-skip decision on it, a human's over an automatic
  one. Skipped items count as not reviewed.
* **Acceptance** = accepted as is / reviewed, over the kept (filter-passed) slice only. Edits and rejects both
  count as defects: an unreviewed record gets neither fixed nor dropped, so its quality is the as-is rate.
* **Stratified acceptance**: the per-stratum rates weighted by stratum population (the pooled rate is
  unbiased only when the allocation is proportional, which the sampler aims for but rounds).
* **Defect rate of the unreviewed candidates**: per-stratum defect rates weighted by each stratum's unreviewed
  count (strata without reviews take the pooled rate), with a Wilson interval at that estimate and the pooled n.
* **Filter agreement** (human decisions only: automatic ones are derived from the filters): each filter's keep/drop against the human keep (accept or edit: the content was worth
  keeping) / reject, over every reviewed record including the filtered-out slice. Without that slice a filter's
  drops are never seen, and its recall of keep is 1 by construction.
* **Cohen's kappa** for every pair of human reviewers who decided the same records (accept/reject/edit).
* **Notes**: every active human decision's free-text note (the review UI's ``n``, a sheet's ``note`` column).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import combinations
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datagen.errors import InputError
from datagen.intervals import cohen_kappa, rate, suggest_threshold, wilson
from datagen.review.config import ReviewConfig
from datagen.review.sample import stratify
from datagen.review.scope import kept_and_filtered
from datagen.review.session import deciding_review
from datagen.review.verdicts import latest_verdicts
from datagen.store.engine import Store
from datagen.store.models import Review, ReviewSample, ReviewSampleItem


def _final(reviews: list[Review]) -> dict[int, Review]:
    """record id -> deciding review (latest non-skip, humans first); skip-only records map to their skip."""
    by: dict[int, list[Review]] = defaultdict(list)
    for r in reviews:
        by[r.record_id].append(r)
    return {rid: deciding_review(rs) or rs[-1] for rid, rs in by.items()}


def _sample_frame(
    s: Session, sample_id: int
) -> tuple[dict[str, Any], dict[int, str], dict[str, int], set[int]]:
    sample = s.get(ReviewSample, sample_id)
    if sample is None:
        raise InputError(f"review sample {sample_id} does not exist")
    items = s.scalars(select(ReviewSampleItem).where(ReviewSampleItem.sample_id == sample_id)).all()
    strata = {it.record_id: it.stratum for it in items}
    filtered = {it.record_id for it in items if it.from_filtered}
    population = {k: int(v) for k, v in sample.strata.items() if not k.startswith("filtered/")}
    return sample.scope, strata, population, filtered


def _scope_frame(s: Session, scope: dict[str, Any]) -> tuple[dict[int, str], dict[str, int], set[int]]:
    kept, dropped = kept_and_filtered(s, scope)
    verdicts = latest_verdicts(s, [r.id for r in kept])
    strata = stratify(kept, verdicts, ReviewConfig())
    population = Counter(strata.values())
    for r in dropped:
        strata[r.id] = "filtered"
    return strata, dict(population), {r.id for r in dropped}


def review_stats(store: Store, target: int | dict[str, Any], human_only: bool = False) -> dict[str, Any]:
    """Statistics of one sample (``target`` = sample id) or of every review in a scope (a scope dict).

    ``human_only`` ignores automatic decisions altogether (as if ``--review auto`` had not run).
    """
    with store.session() as s:
        if isinstance(target, int):
            scope, strata, population, filtered = _sample_frame(s, target)
            reviews = s.scalars(
                select(Review).where(Review.sample_id == target, Review.undone.is_(False)).order_by(Review.id)
            ).all()
        else:
            scope = target
            strata, population, filtered = _scope_frame(s, target)
            ids = sorted(strata)
            reviews = []
            for i in range(0, len(ids), 500):
                reviews += s.scalars(
                    select(Review).where(Review.record_id.in_(ids[i : i + 500]), Review.undone.is_(False))
                ).all()
            reviews.sort(key=lambda r: r.id)
        if human_only:
            reviews = [r for r in reviews if r.is_human]
        final = {rid: r for rid, r in _final(list(reviews)).items() if rid in strata}
        verdicts = latest_verdicts(s, list(final))
    decided = {rid: r for rid, r in final.items() if r.decision != "skip"}
    kept_dec = {rid: r for rid, r in decided.items() if rid not in filtered}
    total_pop = sum(population.values())
    n = len(kept_dec)
    acc = sum(r.decision == "accept" for r in kept_dec.values())

    per: dict[str, dict[str, int]] = defaultdict(lambda: {"accepted": 0, "reviewed": 0})
    for rid, r in kept_dec.items():
        per[strata[rid]]["reviewed"] += 1
        per[strata[rid]]["accepted"] += r.decision == "accept"
    strata_out = {}
    for st in sorted(population):
        c = per.get(st, {"accepted": 0, "reviewed": 0})
        strata_out[st] = {"population": population[st], **rate(c["accepted"], c["reviewed"])}

    pooled_defect = (n - acc) / n if n else None
    unrev = {st: population[st] - per.get(st, {"reviewed": 0})["reviewed"] for st in population}
    u_total = sum(max(0, u) for u in unrev.values())
    defect: dict[str, Any] = {"unreviewed": u_total, "estimate": None, "low": None, "high": None}
    if n and pooled_defect is not None:
        est = 0.0
        for st, u in unrev.items():
            got = per.get(st)
            d = (
                (got["reviewed"] - got["accepted"]) / got["reviewed"]
                if got and got["reviewed"]
                else pooled_defect
            )
            est += max(0, u) * d
        est = est / u_total if u_total else pooled_defect
        lo, hi = wilson(est * n, n)
        defect.update(estimate=est, low=lo, high=hi, expected_defects=round(est * u_total, 1))

    return {
        "scope": scope,
        "sample_id": target if isinstance(target, int) else None,
        "population": total_pop,
        "reviewed": n,
        "reviewed_fraction": (n / total_pop) if total_pop else 0.0,
        "decisions": dict(Counter(r.decision for r in final.values())),
        "human": sum(r.is_human for r in kept_dec.values()),  # deciders behind the acceptance rate
        "automatic": sum(not r.is_human for r in kept_dec.values()),
        "reviewers": sorted({r.reviewer for r in reviews}),
        "seconds": _seconds([r for r in decided.values() if r.is_human]),
        "reject_reasons": dict(Counter(r.reason_code for r in decided.values() if r.decision == "reject")),
        "acceptance": rate(acc, n),
        "acceptance_stratified": _stratified(strata_out),
        "strata": strata_out,
        "defect_rate_unreviewed": defect,
        "filtered_slice": _slice(decided, filtered),
        "filters": filter_agreement({k: r for k, r in decided.items() if r.is_human}, verdicts),
        "kappa": reviewer_kappa(list(reviews)),
        "notes": [
            {"record_id": r.record_id, "reviewer": r.reviewer, "decision": r.decision, "note": r.note}
            for r in reviews
            if r.note and r.is_human and r.record_id in strata
        ],
    }


def _seconds(reviews: list[Review]) -> dict[str, float | None]:
    """Time humans spent per decided item (the UI records it; sheets do not)."""
    xs = sorted(r.seconds for r in reviews if r.seconds is not None)
    if not xs:
        return {"n": 0, "median": None, "total": None}
    return {"n": len(xs), "median": xs[len(xs) // 2], "total": round(sum(xs), 1)}


def _stratified(strata: dict[str, dict[str, Any]]) -> float | None:
    """Population-weighted mean of the per-stratum acceptance (strata without reviews left out)."""
    seen = {k: v for k, v in strata.items() if v["n"]}
    total = sum(v["population"] for v in seen.values())
    return sum(v["population"] * v["rate"] for v in seen.values()) / total if total else None


def _slice(decided: dict[int, Review], filtered: set[int]) -> dict[str, Any]:
    rs = [r for rid, r in decided.items() if rid in filtered]
    return rate(sum(r.decision != "reject" for r in rs), len(rs)) | {"meaning": "humans would keep"}


def filter_agreement(decided: dict[int, Review], verdicts: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Per filter: confusion of its keep/drop against human keep/reject, precision/recall, a threshold."""
    rows: dict[str, list[tuple[bool, bool, float | None, dict[str, Any]]]] = defaultdict(list)
    for rid, r in decided.items():
        human_keep = r.decision in ("accept", "edit")
        for name, v in verdicts.get(rid, {}).items():
            rows[name].append((bool(v.passed), human_keep, v.score, v.details or {}))
    out = {}
    for name, rs in sorted(rows.items()):
        tp = sum(p and h for p, h, _, _ in rs)
        fp = sum(p and not h for p, h, _, _ in rs)
        fn = sum((not p) and h for p, h, _, _ in rs)
        tn = sum((not p) and (not h) for p, h, _, _ in rs)
        entry: dict[str, Any] = {
            "n": len(rs),
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "tn": tn,
            "precision_keep": tp / (tp + fp) if tp + fp else None,
            "recall_keep": tp / (tp + fn) if tp + fn else None,
            "precision_drop": tn / (tn + fn) if tn + fn else None,
            "recall_drop": tn / (tn + fp) if tn + fp else None,
        }
        entry.update(_threshold(name, rs))
        out[name] = entry
    return out


# How the bundled filters read their score when the verdicts alone cannot tell (no failures among them):
# "max" = a record passes when score <= threshold, "min" = when score >= threshold.
KNOWN_DIRECTIONS = {
    "perplexity": "max",
    "toxicity": "max",
    "dedup": "max",
    "heuristics": "max",
    "adherence": "min",
}


def _threshold(name: str, rs: list[tuple[bool, bool, float | None, dict[str, Any]]]) -> dict[str, Any]:
    scored = [(p, h, float(sc), d) for p, h, sc, d in rs if sc is not None]
    if not scored:
        return {"suggested_threshold": None, "note": "no scores"}
    current = next((d.get("threshold") for *_, d in scored if d.get("threshold") is not None), None)
    passed = [sc for p, _, sc, _ in scored if p]
    failed = [sc for p, _, sc, _ in scored if not p]
    if passed and failed:
        direction = "min" if sum(passed) / len(passed) >= sum(failed) / len(failed) else "max"
    else:
        direction = KNOWN_DIRECTIONS.get(name, "min")
    t, j = suggest_threshold([sc for *_, sc, _ in scored], [h for _, h, _, _ in scored], direction)
    note = "" if t is not None else "needs reviewed records the humans kept and rejected"
    return {
        "direction": direction,
        "current_threshold": current,
        "suggested_threshold": t,
        "youden_j": j,
        "note": note,
    }


def reviewer_kappa(reviews: list[Review]) -> list[dict[str, Any]]:
    """Cohen's kappa for each pair of human reviewers over the records both decided."""
    by: dict[str, dict[int, str]] = defaultdict(dict)
    for r in reviews:
        if r.is_human and r.decision != "skip":
            by[r.reviewer][r.record_id] = r.decision
    out = []
    for a, b in combinations(sorted(by), 2):
        common = sorted(set(by[a]) & set(by[b]))
        if not common:
            continue
        la = [by[a][i] for i in common]
        lb = [by[b][i] for i in common]
        agree = sum(x == y for x, y in zip(la, lb, strict=True)) / len(common)
        out.append({"reviewers": [a, b], "n": len(common), "agreement": agree, "kappa": cohen_kappa(la, lb)})
    return out


__all__ = ["filter_agreement", "review_stats", "reviewer_kappa"]
