"""The execution layer with the real openai and anthropic SDKs against the loopback fake API."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from datagen.endpoint import ModelEndpoint
from datagen.errors import BudgetExceeded, DatagenError, InputError, RequestsFailed
from datagen.providers.base import Request, SamplingParams
from datagen.providers.exec_config import ExecConfig
from datagen.providers.executor import Executor
from datagen.providers.registry import make_provider
from datagen.store.models import Completion, RequestFailure, Run
from datagen.store.runs import RunHandle, start_run
from tests.fake_api import FakeAPI

FAST = {"backoff_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 2.0}


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as a:
        yield a


def reqs(n: int, prefix: str = "q", max_tokens: int = 10) -> list[Request]:
    return [
        Request.of(
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": f"{prefix}{i}"}],
            SamplingParams(max_tokens=max_tokens, seed=7),
        )
        for i in range(n)
    ]


def provider(kind: str, api: FakeAPI, model: str | None = None):  # type: ignore[no-untyped-def]
    if kind == "openai":
        return make_provider(
            ModelEndpoint(
                provider="openai",
                model=model or "gpt-4o-mini",
                options={"base_url": api.openai_url},
                api_key="sk-test",
            )
        )
    return make_provider(
        ModelEndpoint(
            provider="anthropic",
            model=model or "claude-3-5-haiku",
            options={"base_url": api.url},
            api_key="sk-test",
        )
    )


def handle(store) -> RunHandle:  # type: ignore[no-untyped-def]
    return RunHandle(store, start_run(store, "test", {}))


def cached_rows(store) -> int:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(Completion)) or 0)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_retries_on_every_transient_failure_and_nothing_is_lost_or_duplicated(store, api, kind) -> None:
    api.enqueue("429:0.05", "500", "malformed", "503", "slow:3")
    run = handle(store)
    ex = Executor(store, provider(kind, api), ExecConfig(concurrency=1, **{**FAST, "timeout_s": 0.5}), run)
    results = ex.run(reqs(6), progress=False)
    assert [r.text for r in results] == [f"reply to: q{i}" for i in range(6)]
    assert all(not r.cached for r in results)
    assert run.counters["retries"] == 5
    assert run.counters["requests"] == 6
    assert api.requests == 11  # 6 successes + 5 scripted failures
    # each prompt 3 words ("be brief", "qN"), each reply 3 words: cost counted once per request
    assert run.counters["prompt_tokens"] == 18
    assert run.counters["completion_tokens"] == 18
    price = (0.15, 0.60) if kind == "openai" else (0.80, 4.00)
    assert run.counters["cost_usd"] == pytest.approx((18 * price[0] + 18 * price[1]) / 1e6)
    assert cached_rows(store) == 6


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_rerun_replays_from_the_cache_with_no_new_http_request(store, api, kind) -> None:
    first = Executor(store, provider(kind, api), ExecConfig(**FAST)).run(reqs(5), progress=False)
    sent = api.requests
    run = handle(store)
    again = Executor(store, provider(kind, api), ExecConfig(**FAST), run).run(reqs(5), progress=False)
    assert api.requests == sent
    assert [r.text for r in again] == [r.text for r in first]
    # a replay is not paid again (counters) but still says what the response cost (records built from it)
    assert all(r.cached for r in again) and [r.cost_usd for r in again] == [r.cost_usd for r in first]
    assert all(r.cost_usd > 0 for r in again)
    assert run.counters["cache_hits"] == 5
    assert run.counters["requests"] == 0
    assert run.counters["cost_usd"] == 0


def test_identical_requests_in_one_call_are_sent_once(store, api) -> None:
    r = reqs(2)
    results = Executor(store, provider("openai", api), ExecConfig(**FAST)).run(
        [r[0], r[1], r[0]], progress=False
    )
    assert [x.text for x in results] == ["reply to: q0", "reply to: q1", "reply to: q0"]
    assert api.requests == 2
    assert results[2].cached and not results[0].cached and results[2].cost_usd == results[0].cost_usd > 0


def test_sample_index_and_seed_make_distinct_cache_keys(store, api) -> None:
    p = SamplingParams(max_tokens=5, seed=1)
    msgs = [{"role": "user", "content": "same"}]
    rs = [
        Request.of(msgs, p, 0),
        Request.of(msgs, p, 1),
        Request.of(msgs, p.model_copy(update={"seed": 2}), 0),
    ]
    Executor(store, provider("openai", api), ExecConfig(**FAST)).run(rs, progress=False)
    assert api.requests == 3
    assert sorted(b["seed"] for b in api.bodies) == [1, 1, 2]


def test_a_failed_request_is_recorded_the_others_go_on_and_a_rerun_retries_only_it(store, api) -> None:
    api.enqueue(*["500"] * 3)  # the first request fails three times: its retries are spent
    run = handle(store)
    ex = Executor(store, provider("openai", api), ExecConfig(concurrency=1, max_retries=2, **FAST), run)
    with pytest.raises(RequestsFailed, match=r"1 of 3 request\(s\) failed .*rerun to retry only") as e:
        ex.run(reqs(3), progress=False)
    assert e.value.exit_code == 3 and e.value.failures == 1
    assert cached_rows(store) == 2  # the others were answered and kept
    with store.session() as s:
        [failure] = s.scalars(select(RequestFailure)).all()
        counters = s.get(Run, run.id).counters  # type: ignore[union-attr]
    assert (failure.run_id, failure.status) == (run.id, 500) and "after 3 attempt" in failure.reason
    assert failure.request["messages"][-1]["content"] == "q0"
    assert counters["failed_requests"] == 1 and counters["requests"] == 2  # written with the answers
    sent = api.requests
    results = Executor(store, provider("openai", api), ExecConfig(**FAST)).run(reqs(3), progress=False)
    assert [r.text for r in results] == ["reply to: q0", "reply to: q1", "reply to: q2"]
    assert api.requests - sent == 1 and [r.cached for r in results] == [False, True, True]


def test_run_partial_gives_none_for_a_failed_request(store, api) -> None:
    api.enqueue("400")  # a bad request is not retried, and fails alone
    ex = Executor(store, provider("openai", api), ExecConfig(concurrency=1, **FAST))
    results = ex.run_partial(reqs(2), progress=False)
    assert results[0] is None and results[1] is not None and results[1].text == "reply to: q1"


def test_too_many_failures_in_a_row_stop_the_call(store, api) -> None:
    api.enqueue(*["500"] * 6)
    cfg = ExecConfig(concurrency=1, max_retries=0, max_failures_in_a_row=3, **FAST)
    with pytest.raises(DatagenError, match=r"3 requests in a row failed.*looks unavailable"):
        Executor(store, provider("openai", api), cfg).run(reqs(6), progress=False)
    assert api.requests == 3


def test_non_retryable_errors_fail_at_once(store, api) -> None:
    api.enqueue("401")
    ex = Executor(store, provider("openai", api), ExecConfig(concurrency=1, **FAST))
    with pytest.raises(DatagenError, match="HTTP 401"):
        ex.run(reqs(1), progress=False)
    assert api.requests == 1


def test_budget_cap_stops_before_it_is_exceeded_and_keeps_what_finished(store, api) -> None:
    # $0.01 a token: each reply really costs (3 + 3) tokens = $0.06; the worst case checked before sending is
    # the prompt estimate (8 + 8//3 + 8 + 2//3 = 18 tokens) + max_tokens 10 = 28 tokens = $0.28.
    cfg = ExecConfig(concurrency=1, max_usd=0.5, prices={"m": (10_000.0, 10_000.0)}, **FAST)
    run = handle(store)
    ex = Executor(store, provider("openai", api, model="m"), cfg, run)
    with pytest.raises(
        BudgetExceeded,
        match=r"budget cap \$0.5 reached: \$0.24 spent or reserved .* up to \$0.28.*spent in the end: \$0.24\)",
    ):
        ex.run(reqs(10), progress=False)
    # sent while spent + 0.28 <= 0.5: after 0, 0.06, 0.12 and 0.18 spent; not after 0.24
    assert api.requests == 4
    assert ex.spent_usd == pytest.approx(0.24)
    assert cached_rows(store) == 4
    assert run.counters["requests"] == 4
    assert run.counters["cost_usd"] == pytest.approx(0.24)
    # a rerun with more budget replays the four and pays only for the other six
    ex2 = Executor(store, provider("openai", api, model="m"), cfg.model_copy(update={"max_usd": 10.0}))
    results = ex2.run(reqs(10), progress=False)
    assert [r.text for r in results] == [f"reply to: q{i}" for i in range(10)]
    assert api.requests == 10
    assert sum(r.cached for r in results) == 4
    assert ex2.spent_usd == pytest.approx(0.36)


def test_unknown_price_with_a_budget_is_refused_and_warned_without(store, api) -> None:
    with pytest.raises(InputError, match="no price known for model 'my-model'"):
        Executor(store, provider("openai", api, model="my-model"), ExecConfig(max_usd=1.0))
    with pytest.warns(UserWarning, match="cost is counted as 0"):
        Executor(store, provider("openai", api, model="my-model"), ExecConfig())


def test_rpm_limit_is_respected(store) -> None:
    rpm = 600.0  # one request per 0.1 s
    with FakeAPI(rpm=rpm, burst=3) as api:  # a server tolerates some jitter in arrival times
        ex = Executor(store, provider("openai", api), ExecConfig(concurrency=4, rpm=rpm, **FAST))
        t0 = time.monotonic()
        results = ex.run(reqs(12), progress=False)
        elapsed = time.monotonic() - t0
    assert len(results) == 12
    assert api.rate_limited == 0  # the server never had to say 429
    # 12 requests at 0.1 s spacing: the last starts 1.1 s after the first
    assert api.ok_times[-1] - api.ok_times[0] >= 1.1 * 0.95
    assert elapsed < 1.1 + 1.0


def test_a_429_with_retry_after_is_honoured(store, api) -> None:
    api.enqueue("429:0.4")
    ex = Executor(store, provider("openai", api), ExecConfig(concurrency=1, **FAST))
    t0 = time.monotonic()
    ex.run(reqs(1), progress=False)
    assert time.monotonic() - t0 >= 0.4


def test_a_429_with_an_unreadable_retry_after_is_still_retried(store, api) -> None:
    api.enqueue("429:soon")
    ex = Executor(store, provider("openai", api), ExecConfig(concurrency=1, **FAST))
    assert [r.text for r in ex.run(reqs(1), progress=False)] == ["reply to: q0"]
    assert api.requests == 2


def test_estimates_sample_spread_out_requests_and_never_more_than_there_are() -> None:
    from datagen.providers.projection import spread

    assert [spread(n, 3) for n in (0, 1, 2, 3, 5, 100)] == [
        [],
        [0],
        [0, 1],
        [0, 1, 2],
        [0, 2, 4],
        [0, 50, 99],
    ]
    assert spread(8, 1) == [0] and spread(4, 0) == []


def test_estimate_projects_cost_and_time(store, api) -> None:
    ex = Executor(store, provider("openai", api), ExecConfig(rpm=60, **FAST))
    from datagen.providers.projection import estimate

    est = estimate(ex, reqs(100), sample=3)
    assert est["sampled"] == 3
    assert api.requests == 3
    assert est["avg_prompt_tokens"] == 3 and est["avg_completion_tokens"] == 3
    assert est["est_cost_usd"] == pytest.approx(100 * (3 * 0.15 + 3 * 0.60) / 1e6)
    assert est["est_seconds"] == pytest.approx(100.0)  # the rate limit dominates


def test_progress_bar_shows_tokens_and_cost_and_counters_are_saved(store, api, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from datagen import progress
    from datagen.store.models import Run

    monkeypatch.setenv("DATAGEN_PROGRESS", "1")
    run = handle(store)
    with progress.stage("generate", run.id):  # the executor counts into the running stage's requests meter
        Executor(store, provider("openai", api), ExecConfig(**FAST), run).run(reqs(3), progress=True)
    err = capsys.readouterr().err
    assert "generate requests" in err and "3/3" in err and "18 tok" in err and "$0.0000" in err
    with store.session() as s:
        saved = s.get(Run, run.id)
        assert saved is not None
        assert saved.counters["requests"] == 3 and saved.counters["completion_tokens"] == 9


def test_concurrent_calls_keep_order_under_failures(store, api) -> None:  # type: ignore[no-untyped-def]
    api.enqueue("500", "429:0.05", "malformed", "500", "503", "malformed")
    run = handle(store)
    results = Executor(store, provider("openai", api), ExecConfig(concurrency=4, **FAST), run).run(reqs(30))
    assert [r.text for r in results] == [f"reply to: q{i}" for i in range(30)]
    assert api.requests == 36 and api.duplicates() == 0
    assert run.counters["retries"] == 6 and run.counters["requests"] == 30
    assert cached_rows(store) == 30


def test_batched_providers_get_similar_prompts_together_and_order_is_kept(store) -> None:  # type: ignore[no-untyped-def]
    from datagen.providers.base import Provider, Result

    class Batched(Provider):
        name = "batched-test"
        free = True
        max_batch = 2

        def __init__(self) -> None:
            super().__init__("b")
            self.batches: list[list[str]] = []

        def complete(self, requests: list[Request]) -> list[Result]:
            self.batches.append([r.messages[-1][1] for r in requests])
            return [Result(r.messages[-1][1].upper(), self.model) for r in requests]

    p = Batched()
    prompts = ["a" * 9, "b", "c" * 5, "d" * 2, "e" * 7]
    rs = [Request.of([{"role": "user", "content": t}], SamplingParams()) for t in prompts]
    results = Executor(store, p, ExecConfig()).run(rs, progress=False)
    assert [r.text for r in results] == [t.upper() for t in prompts]
    assert p.batches == [["b", "dd"], ["ccccc", "eeeeeee"], ["aaaaaaaaa"]]
