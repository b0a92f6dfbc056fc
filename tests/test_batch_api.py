"""The batch API path (OpenAI Batch, Anthropic Message Batches) with the real SDKs against the loopback server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from datagen.endpoint import ModelEndpoint
from datagen.errors import BudgetExceeded, DatagenError, InputError
from datagen.providers import batch as batch_module
from datagen.providers.exec_config import ExecConfig
from datagen.providers.executor import Executor
from datagen.providers.registry import make_provider
from datagen.store.models import RemoteBatch
from tests.fake_api import FakeAPI
from tests.gen_fakes import write_seeds
from tests.test_executor import cached_rows, handle, provider, reqs
from tests.test_generate_cli import SEEDS, echo_with_a_new_task, teacher_flags

BATCH = {"batch_api": True, "batch_poll_s": 0.01, "backoff_s": 0.01, "timeout_s": 2.0}


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as a:
        yield a


def batches(store) -> list[RemoteBatch]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return list(s.scalars(select(RemoteBatch).order_by(RemoteBatch.id)))


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_batch_answers_at_half_price_cached_and_recorded(store, api, kind) -> None:
    api.batch_polls = 3
    run = handle(store)
    ex = Executor(store, provider(kind, api), ExecConfig(**BATCH, batch_max_requests=4), run)
    results = ex.run(reqs(6), progress=False)
    assert [r.text for r in results] == [f"reply to: q{i}" for i in range(6)]
    assert api.requests == 0  # no direct call: everything went through two batches of at most 4
    assert len(api.batches) == 2 and [len(b.keys) for b in batches(store)] == [4, 2]
    assert {b.status for b in batches(store)} == {"collected"}
    assert cached_rows(store) == 6
    price = ex.price
    assert price is not None
    list_price = (3 * price[0] + 3 * price[1]) / 1e6  # "be brief" + "qN" in, "reply to: qN" out
    assert [r.cost_usd for r in results] == pytest.approx([list_price * 0.5] * 6)
    assert run.counters["cost_usd"] == pytest.approx(6 * list_price * 0.5)
    assert run.counters["requests"] == 6 and run.counters["batch_submitted"] == 6
    # A rerun replays from the cache: no batch, no request.
    again = Executor(store, provider(kind, api), ExecConfig(**BATCH), handle(store)).run(
        reqs(6), progress=False
    )
    assert [r.text for r in again] == [r.text for r in results] and all(r.cached for r in again)
    assert len(api.batches) == 2


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_run_killed_while_waiting_resumes_the_same_batch(store, api, kind, monkeypatch) -> None:
    api.batch_polls = 10**9  # never ends while the first run waits

    def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt  # Ctrl-C (or a kill) while waiting for the batch

    monkeypatch.setattr(batch_module, "sleep", interrupt)
    with pytest.raises(KeyboardInterrupt):
        Executor(store, provider(kind, api), ExecConfig(**BATCH), handle(store)).run(reqs(3), progress=False)
    [row] = batches(store)
    assert row.status == "submitted" and len(api.batches) == 1 and cached_rows(store) == 0

    monkeypatch.undo()
    api.batches[row.remote_id]["polls"] = 2  # the provider finishes it later
    run = handle(store)
    results = Executor(store, provider(kind, api), ExecConfig(**BATCH), run).run(reqs(3), progress=False)
    assert [r.text for r in results] == [f"reply to: q{i}" for i in range(3)]
    assert len(api.batches) == 1 and api.requests == 0  # nothing submitted or sent twice
    assert batches(store)[0].status == "collected" and run.counters["requests"] == 3
    assert run.counters.get("batch_submitted", 0) == 0


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_requests_the_batch_could_not_answer_go_direct(store, api, kind) -> None:
    api.batch_errors = {"q1"}
    run = handle(store)
    results = Executor(store, provider(kind, api), ExecConfig(**BATCH), run).run(reqs(3), progress=False)
    assert [r.text for r in results] == [f"reply to: q{i}" for i in range(3)]
    assert api.requests == 1 and api.served["q1"] == 1  # only the failed one, at list price
    assert batches(store)[0].counts == {"succeeded": 2, "failed": 1}
    assert run.counters["batch_failed"] == 1 and run.counters["requests"] == 3


def test_budget_counts_the_batch_price_and_keeps_a_batch_that_fits(store, api) -> None:
    ex = Executor(store, provider("openai", api), ExecConfig(**BATCH), handle(store))
    worst = ex.worst_cost(reqs(1)[0]) * 0.5  # the worst case of one request, at the batch price
    cfg = ExecConfig(**BATCH, max_usd=worst * 5, batch_max_requests=4)
    with pytest.raises(
        BudgetExceeded, match=r"a batch of 2 request\(s\).*not submitted.*1 batch\(es\) already"
    ):
        Executor(store, provider("openai", api), cfg, handle(store)).run(reqs(6), progress=False)
    assert len(api.batches) == 1 and [len(b.keys) for b in batches(store)] == [4]  # the first 4 fit
    # More budget: the batch already submitted is collected, only the other 2 are submitted.
    run = handle(store)
    cfg = ExecConfig(**BATCH, max_usd=worst * 10, batch_max_requests=4)
    results = Executor(store, provider("openai", api), cfg, run).run(reqs(6), progress=False)
    assert [r.text for r in results] == [f"reply to: q{i}" for i in range(6)]
    assert len(api.batches) == 2 and run.counters["batch_submitted"] == 2 and api.requests == 0


def test_a_batch_that_fails_as_a_whole_or_is_lost_stops_the_run_and_a_rerun_submits_again(
    store, api, monkeypatch
) -> None:
    api.batch_fails = True
    with pytest.raises(DatagenError, match="failed: token_limit_exceeded: Enqueued token limit reached"):
        Executor(store, provider("openai", api), ExecConfig(**BATCH), handle(store)).run(
            reqs(2), progress=False
        )
    assert [b.status for b in batches(store)] == [
        "failed"
    ] and api.requests == 0  # nothing paid, nothing direct
    api.batch_fails, api.batch_polls = False, 10**9
    # While the run waits, the provider forgets the batch (another account, a deleted batch): 404 when polled.
    monkeypatch.setattr(batch_module, "sleep", lambda _s: api.batches.clear())
    with pytest.raises(DatagenError, match="can no longer be read"):
        Executor(store, provider("openai", api), ExecConfig(**BATCH), handle(store)).run(
            reqs(2), progress=False
        )
    monkeypatch.undo()
    assert [b.status for b in batches(store)] == ["failed", "lost"]
    api.batch_polls = 1
    results = Executor(store, provider("openai", api), ExecConfig(**BATCH), handle(store)).run(
        reqs(2), progress=False
    )
    assert [r.text for r in results] == ["reply to: q0", "reply to: q1"]
    assert [b.status for b in batches(store)] == ["failed", "lost", "collected"]


def test_a_resumed_batch_counts_against_the_budget(store, api, monkeypatch) -> None:
    api.batch_polls = 10**9
    monkeypatch.setattr(batch_module, "sleep", lambda _s: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        Executor(store, provider("openai", api), ExecConfig(**BATCH), handle(store)).run(
            reqs(2), progress=False
        )
    ex = Executor(store, provider("openai", api), ExecConfig(**BATCH), handle(store))
    worst = ex.worst_cost(reqs(1)[0]) * 0.5
    cfg = ExecConfig(**BATCH, max_usd=worst * 3)  # room for 3: the 2 resumed + 2 new would pass it
    with pytest.raises(BudgetExceeded, match="a batch of 2"):
        Executor(store, provider("openai", api), cfg, handle(store)).run(reqs(4), progress=False)
    assert len(api.batches) == 1


def test_an_estimate_never_waits_for_a_batch(run_cli, api, tmp_path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    args = ["--seeds", str(seeds), "--n", "2", "--max-steps", "1", *teacher_flags(api)]
    r = run_cli("generate", "self-instruct", *args, "--batch-api", "--estimate", "--json")
    assert r.exit_code == 0, r.output
    assert api.batches == {} and api.requests > 0  # a few samples, sent directly


def test_a_provider_without_a_batch_api_is_refused(store) -> None:
    local = make_provider(ModelEndpoint(provider="local", model="x", options={}))
    with pytest.raises(InputError, match="has no batch API"):
        Executor(store, local, ExecConfig(batch_api=True))


def test_generate_through_the_batch_api_from_the_cli(run_cli, api, tmp_path, fresh_db) -> None:
    api.responder = echo_with_a_new_task  # a task list with a new task, so that instances are asked for
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    args = [
        "--seeds",
        str(seeds),
        "--n",
        "2",
        "--max-steps",
        "1",
        "--prompts-per-step",
        "2",
        *teacher_flags(api),
    ]
    r = run_cli("generate", "self-instruct", *args, "--batch-api", "--batch-poll-s", "0.01", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert api.requests == 0 and len(api.batches) >= 2  # the task lists, then the instances: batches only
    assert out["requests"] > 0 and out["batch_submitted"] == out["requests"]
    r = run_cli("runs", "--id", str(out["run_id"]), "--json")
    assert json.loads(r.stdout)["config"]["exec"]["batch_api"] is True  # stored in the resolved config
    # without the flag nothing goes to a batch (and the cache answers what the batches did)
    r = run_cli("generate", "self-instruct", *args, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["cache_hits"] > 0 and api.requests == 0
