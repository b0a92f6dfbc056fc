"""The local provider with the real SmolLM2 (slow: loads the model; a few tokens per request)."""

from __future__ import annotations

import pytest

from datagen.endpoint import ModelEndpoint
from datagen.providers.base import Request, SamplingParams
from datagen.providers.exec_config import ExecConfig
from datagen.providers.executor import Executor
from datagen.providers.registry import make_provider
from datagen.store.runs import RunHandle, start_run

pytestmark = pytest.mark.slow


def ask(i: int, max_tokens: int = 6, **params: object) -> Request:
    return Request.of(
        [{"role": "user", "content": f"Name a colour. Number {i}."}],
        SamplingParams(max_tokens=max_tokens, **params),
    )


def test_batched_generation_is_seeded_per_request_and_reports_tokens() -> None:
    p = make_provider(ModelEndpoint(provider="local", options={"batch_size": 4}))
    batch = p.complete([ask(0), ask(1), ask(2, max_tokens=3)])
    alone = p.complete([ask(1)])
    # the same request gives the same text alone and inside a left-padded batch
    assert alone[0].text == batch[1].text
    assert all(r.text for r in batch)
    assert batch[2].finish_reason == "length" and batch[2].completion_tokens == 3
    assert all(
        r.prompt_tokens > 10 and r.cost_usd == 0 and r.model_used == "smollm2-135m-instruct" for r in batch
    )
    # another seed or sample index is another draw; temperature 0 is greedy and repeatable
    other = p.complete([ask(1, seed=123), Request.of(ask(1).message_dicts(), ask(1).params, sample_index=1)])
    assert other[0].raw["seed"] != alone[0].raw["seed"] != other[1].raw["seed"]
    greedy = p.complete([ask(5, temperature=0.0), ask(5, temperature=0.0, seed=9)])
    assert greedy[0].text == greedy[1].text


def test_local_runs_through_the_executor_and_replays_from_the_cache(store) -> None:  # type: ignore[no-untyped-def]
    run = RunHandle(store, start_run(store, "test", {}))
    p = make_provider(ModelEndpoint(provider="local", options={"batch_size": 2}))
    ex = Executor(store, p, ExecConfig(max_usd=0.0), run)  # free: a zero budget never trips
    first = ex.run([ask(i, max_tokens=4) for i in range(3)], progress=False)
    assert run.counters["requests"] == 3 and run.counters["cost_usd"] == 0
    assert run.counters["completion_tokens"] == sum(r.completion_tokens for r in first)
    again = Executor(store, p, ExecConfig(), run).run(
        [ask(i, max_tokens=4) for i in range(3)], progress=False
    )
    assert [r.text for r in again] == [r.text for r in first]
    assert all(r.cached for r in again)
    assert run.counters["cache_hits"] == 3 and run.counters["requests"] == 3
