"""Statistics against known values: Wilson intervals, Cohen's kappa, filter agreement, suggested threshold."""

from __future__ import annotations

import json

import pytest

from datagen.intervals import cohen_kappa, suggest_threshold, wilson
from datagen.review.config import ReviewConfig
from datagen.review.sample import create_sample
from datagen.review.session import ReviewDecision, ReviewSession
from datagen.review.stats import review_stats
from tests.review_data import insert, population


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [  # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score, no correction)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe(k, n, low, high):
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(low, abs=5e-5)
    assert hi == pytest.approx(high, abs=5e-5)


def test_kappa_known_values():
    # the textbook 2x2 example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> po 0.7, pe 0.5, kappa 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(["y", "n"], ["y", "n"]) == pytest.approx(1.0)
    assert cohen_kappa(["y", "y"], ["y", "y"]) is None


def test_suggest_threshold_separates_humans():
    scores = [0.1, 0.2, 0.3, 0.6, 0.7, 0.9]
    keep = [False, False, True, True, True, True]
    assert suggest_threshold(scores, keep, "min") == (0.3, 1.0)
    assert suggest_threshold([10, 20, 300], [True, True, False], "max") == (20, 1.0)
    assert suggest_threshold([1, 2], [True, True], "min") == (None, None)


def test_review_stats_of_a_sample(store):
    run, _ = insert(store, population(20, 10))
    sid = create_sample(store, ReviewConfig(fraction=0.5, min_count=1, filtered_fraction=0.2), {"run": run})
    alice = ReviewSession(store, sid, "alice")
    bob = ReviewSession(store, sid, "bob")
    kept = [it.record_id for it in alice.items if not it.from_filtered]
    dropped = [it.record_id for it in alice.items if it.from_filtered]
    assert len(kept) == 10 and len(dropped) == 2
    decisions = [ReviewDecision(r, "accept") for r in kept[:7]]
    decisions += [ReviewDecision(r, "reject", "incorrect") for r in kept[7:9]] + [
        ReviewDecision(kept[9], "skip")
    ]
    decisions += [ReviewDecision(dropped[0], "reject", "low_quality"), ReviewDecision(dropped[1], "accept")]
    alice.decide_many(decisions)
    bob.decide_many(
        [ReviewDecision(r, "accept") for r in kept[:4]] + [ReviewDecision(kept[4], "reject", "other")]
    )

    st = review_stats(store, sid)
    assert st["population"] == 20
    # bob's later reject on kept[4] outranks alice's accept (latest human decision)
    assert st["reviewed"] == 9 and st["acceptance"]["k"] == 6
    assert st["acceptance"]["low"] == pytest.approx(wilson(6, 9)[0])
    assert st["reviewed_fraction"] == pytest.approx(9 / 20)
    strata = st["strata"]
    expected = sum(v["population"] * v["rate"] for v in strata.values() if v["n"]) / sum(
        v["population"] for v in strata.values() if v["n"]
    )
    assert st["acceptance_stratified"] == pytest.approx(expected)
    assert sum(v["n"] for v in strata.values()) == 9 and sum(v["population"] for v in strata.values()) == 20
    assert st["defect_rate_unreviewed"]["unreviewed"] == 11
    judge = st["filters"]["judge"]
    # kept slice: 6 accepted (tp), 3 rejected (fp); filtered slice: one kept by humans (fn), one rejected (tn)
    assert (judge["tp"], judge["fp"], judge["fn"], judge["tn"]) == (6, 3, 1, 1)
    assert judge["precision_keep"] == pytest.approx(6 / 9)
    assert judge["recall_keep"] == pytest.approx(6 / 7)
    assert judge["direction"] == "min" and judge["current_threshold"] == 0.5
    [pair] = st["kappa"]
    assert pair["reviewers"] == ["alice", "bob"] and pair["n"] == 5
    assert pair["kappa"] == pytest.approx(cohen_kappa(["accept"] * 5, ["accept"] * 4 + ["reject"]))


def test_stats_command_text_and_json(store, run_cli):
    run, _ = insert(store, population(10, 4))
    sid = create_sample(store, ReviewConfig(fraction=1.0, min_count=1, filtered_fraction=0.5), {"run": run})
    for name, decision in (("ann", "accept"), ("ben", "reject")):
        s = ReviewSession(store, sid, name)
        s.decide_many(
            [
                ReviewDecision(it.record_id, decision, "other" if decision == "reject" else None)
                for it in s.items
            ]
        )
    res = run_cli("review", "stats", "--sample", str(sid))
    assert res.exit_code == 0, res.output
    assert "reviewed 10 of 10 kept records (100.0%); human 10, automatic 0; reviewers: ann, ben" in res.stdout
    assert "Cohen's kappa ann vs ben: 0.000 on 12 records (raw agreement 0.0%)" in res.stdout
    assert "filters vs human decisions" in res.stdout
    st = run_cli("review", "stats", "--run", str(run), "--json")
    assert json.loads(st.stdout)["acceptance"]["k"] == 0  # ben's later rejects decide
