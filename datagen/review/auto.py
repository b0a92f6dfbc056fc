"""``--review auto``: an automatic decision on a sample, for unattended pipelines, clearly marked as such.

Reviewer ``auto``, ``is_human=False``: items that passed every filter are accepted, the others rejected with
reason ``other`` (note ``auto: failed <filter>``). Human decisions always outrank these in the statistics, and
the dataset card shows how many decisions were automatic.
"""

from __future__ import annotations

from typing import Any

from datagen.review.session import ReviewDecision, ReviewSession
from datagen.review.verdicts import first_failure, latest_verdicts
from datagen.store.engine import Store

AUTO_REVIEWER = "auto"


def auto_review(store: Store, sample_id: int, run_id: int | None = None) -> dict[str, Any]:
    """Decide every item of the sample the automatic reviewer has not decided yet; returns counts."""
    session = ReviewSession(store, sample_id, AUTO_REVIEWER, is_human=False, run_id=run_id)
    done = session.decided()
    todo = [it.record_id for it in session.items if it.record_id not in done]
    with store.session() as s:
        verdicts = latest_verdicts(s, todo)
    decisions = []
    for rid in todo:
        failure = first_failure(verdicts.get(rid, {}))
        if failure == "ok":
            decisions.append(ReviewDecision(rid, "accept", note="auto: passed all filters"))
        else:
            decisions.append(
                ReviewDecision(rid, "reject", reason_code="other", note=f"auto: failed {failure}")
            )
    session.decide_many(decisions)
    accepted = sum(d.decision == "accept" for d in decisions)
    return {
        "sample_id": sample_id,
        "reviewer": AUTO_REVIEWER,
        "is_human": False,
        "decided": len(decisions),
        "accepted": accepted,
        "rejected": len(decisions) - accepted,
        "already_decided": len(done),
    }
