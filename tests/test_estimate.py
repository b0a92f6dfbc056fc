"""``--estimate``: its projection model, and its error against the run it estimates on the loopback teacher that
writes like a chat model (cost, requests and steps within 20%)."""

from __future__ import annotations

from typing import Any

import pytest

from datagen.generation.config import EvolConfig, SelfInstructConfig
from datagen.generation.estimate import (
    Screened,
    distinct_rewrites,
    estimate_evol,
    estimate_self_instruct,
    later_yield,
    project_steps,
)
from datagen.generation.evol_instruct import run_evol
from datagen.generation.self_instruct import run_self_instruct
from datagen.store.models import Run
from tests.fake_api import FakeAPI

NEW, SEED = Screened(False, None), Screened(True, None)


@pytest.mark.parametrize(
    ("accepted", "ratio", "n", "max_steps", "want"),
    [
        (38, 1.0, 60, 10, (2, 76.0)),  # the last step is kept whole
        (10, 0.5, 20, 10, (3, 20.0)),
        (10, 0.5, 100, 4, (4, 25.0)),  # max_steps stops it
        (30, 1.0, 20, 10, (1, 30.0)),  # step 1 is enough
        (0, 0.0, 5, 7, (7, 0.0)),  # nothing accepted: the run goes to max_steps
    ],
)
def test_steps_and_tasks_follow_the_runs_stopping_rule(accepted, ratio, n, max_steps, want) -> None:
    assert project_steps(accepted, ratio, n, max_steps) == want


@pytest.mark.parametrize(
    ("screened", "want"),
    [
        ([NEW] * 10, 1.0),  # no repeats: later steps yield as step 1
        ([NEW] * 8 + [SEED] * 4, 1.0),  # seed duplicates happen at the same rate every step
        ([NEW] * 8 + [Screened(False, 40)] * 3, 7 / 8),  # one task drew three repeats: 7 of 8 never repeated
        ([NEW] * 8 + [Screened(False, 40), Screened(False, 41)], 6 / 8),
        ([SEED] * 3, 0.0),
    ],
)
def test_later_steps_yield_the_good_turing_share_of_unrepeated_tasks(screened, want) -> None:
    assert later_yield(screened) == pytest.approx(want)


def test_items_with_the_same_text_and_operation_send_one_rewrite() -> None:
    texts = ["a", "a", "a", "b"]
    assert distinct_rewrites(texts, [["x", "x", "y", "x"]], 0.5, seed=0) == [3.0]
    # nothing passes: the same groups every round; everything passes: same-request items share the new text
    assert distinct_rewrites(texts, [["x", "x", "y", "x"], ["z"] * 4], 0.0, seed=0) == [3.0, 2.0]
    assert distinct_rewrites(texts, [["x", "x", "y", "x"], ["z"] * 4], 1.0, seed=0) == [3.0, 3.0]


def paid(store: Any, *run_ids: int) -> tuple[int, float]:
    with store.session() as s:
        runs = [s.get(Run, i) for i in run_ids]
        return sum(r.counters["requests"] for r in runs), sum(r.counters["cost_usd"] for r in runs)


def within(estimate: float, actual: float, tolerance: float = 0.2) -> bool:
    return abs(estimate / actual - 1) <= tolerance


def test_estimates_are_within_20_percent_of_the_runs_they_estimate_for_both_methods(store) -> None:
    with FakeAPI(chat_share=0.4) as api:
        who: dict[str, Any] = {"provider": "openai", "model": "gpt-4o-mini", "api_key": "sk-test",
                               "options": {"base_url": api.openai_url}}  # fmt: skip
        si = SelfInstructConfig(seeds="builtin", n=60, **who)
        est = estimate_self_instruct(store, si)
        run = run_self_instruct(store, si)
        requests, cost = paid(store, est["run_id"], run.run_id)
        assert (
            run.summary["cache_hits"] >= est["sampled_requests"]
        )  # the run replayed what the estimate bought
        assert within(est["est_cost_usd"], cost), (est, cost)
        assert within(est["projected_requests"], requests), (est, requests)
        assert within(est["projected_steps"], run.summary["steps"]), (est, run.summary["steps"])

        evol = EvolConfig(source=f"run:{run.run_id}", limit=40, rounds=2, **who)
        est = estimate_evol(store, evol)
        run = run_evol(store, evol)
        requests, cost = paid(store, est["run_id"], run.run_id)
        assert within(est["est_cost_usd"], cost), (est, cost)
        assert within(est["projected_requests"], requests), (est, requests)
