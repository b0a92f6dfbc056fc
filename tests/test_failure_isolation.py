"""Failure isolation in generation (issue 12.5), with real processes against the loopback teacher's fault
injection, on SQLite and PostgreSQL: a request that fails after its retries is recorded with its reason, the run
goes on with what arrived and ends ``partial`` (exit 3); a rerun sends only the failed requests (and what is
built from their answers), finishes ``succeeded``, and a third run sends nothing."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.concurrency_kit import NonceTeacher, Snapshot, finish, generate_cmd, server_prompt_tokens, start
from tests.fake_api import FakeAPI
from tests.test_concurrency import db_url, seeds  # noqa: F401 (fixtures)

pytestmark = pytest.mark.timeout(120)
# ruff: noqa: F811  (the fixtures imported above are parameters here)


def _rows(db_url: str, sql: str) -> list[tuple]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(sql)).all()]
    engine.dispose()
    return rows


def _task_lists(bodies: list[dict]) -> list[str]:
    return [
        b["messages"][-1]["content"]
        for b in bodies
        if b["messages"][-1]["content"].startswith("Come up with a series of tasks")
    ]


def test_self_instruct_goes_on_after_failures_and_a_rerun_sends_only_them(db_url: str, seeds: Path) -> None:
    teacher = NonceTeacher()
    with FakeAPI(responder=teacher) as api:
        api.enqueue("500", "500")  # two of the first step's four task lists fail (no retries allowed)
        proc = start(generate_cmd(seeds, api.openai_url, "--max-retries", "0"), db_url)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, (out, err)
        first = json.loads(out)
        assert "partial: 2 request(s) failed after their retries" in err
        assert first["status"] == "partial" and first["failed_requests"] == 2
        # the run went on after step 1: later steps were built from the two lists that arrived
        assert first["steps"] > 1 and first["waiting"] == {"task_lists": 2, "tasks": 0}
        lists_first = _task_lists(api.bodies)
        assert len(lists_first) == 4 * first["steps"] - 2  # every list answered once, the 2 failed ones not
        classify_and_instances = 2 * first["instructions_accepted"]
        assert api.requests == 4 * first["steps"] + classify_and_instances  # the 2 failures: one attempt each
        sent_before = api.requests

        [again] = finish([start(generate_cmd(seeds, api.openai_url), db_url)])
        assert again["status"] == "succeeded" and again["failed_requests"] == 0 and "waiting" not in again
        assert again["steps"] == first["steps"]  # the same steps, replayed from the cache
        late_tasks = again["instructions_accepted"] - first["instructions_accepted"]
        assert late_tasks > 0
        # only the 2 failed lists were sent again, then the classify and instance requests of their tasks
        assert api.requests - sent_before == 2 + 2 * late_tasks
        lists = _task_lists(api.bodies)
        assert len(lists) == len(set(lists)) == 4 * first["steps"]  # no list answered twice
        sent_twice = api.requests

        [third] = finish([start(generate_cmd(seeds, api.openai_url), db_url)])
        assert api.requests == sent_twice  # everything replays
        assert third["status"] == "succeeded" and third["records_inserted"] == 0
        assert third["instructions_accepted"] == again["instructions_accepted"]
    assert api.duplicates() == 0  # no answer was paid twice
    failures = _rows(db_url, "SELECT run_id, status, reason FROM request_failures ORDER BY id")
    assert [(r, st, "after 1 attempt" in why) for r, st, why in failures] == [
        (first["run_id"], 500, True)
    ] * 2
    statuses = dict(_rows(db_url, "SELECT id, status FROM runs WHERE kind = 'generate'"))
    assert statuses == {
        first["run_id"]: "partial",
        again["run_id"]: "succeeded",
        third["run_id"]: "succeeded",
    }
    snap = Snapshot.of(db_url)
    snap.check_runs_closed()
    snap.check_provenance()
    snap.check_ledger(sum(api.served.values()), server_prompt_tokens(api.bodies), teacher.completion_tokens)
    assert snap.owned(first["run_id"]) + snap.owned(again["run_id"]) == len(
        [r for r in snap.records if r.method == "self_instruct"]
    )


def _evol_cmd(source: str, api_url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "datagen", "generate", "evol", "--from", source, "--rounds", "3",
            "--concurrency", "1", "--provider", "openai", "--model", "gpt-4o-mini",
            "--option", f"base_url={api_url}", "--api-key", "sk-test", "--json", *extra]  # fmt: skip


def test_evol_stops_only_the_item_whose_request_failed_and_a_rerun_carries_it_on(
    db_url: str, seeds: Path
) -> None:
    with FakeAPI(responder=NonceTeacher()) as api:
        api.enqueue("ok", "500")  # the second pool item's round-1 rewrite fails (concurrency 1: in order)
        proc = start(_evol_cmd("method:seed", api.openai_url, "--max-retries", "0"), db_url)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, (out, err)
        first = json.loads(out)
        assert first["status"] == "partial" and first["failed_requests"] == 1 and first["stopped_items"] == 1
        assert first["evolutions"] == 4 * 3 - 3  # the three other items went through every round
        sent = api.requests
        [again] = finish([start(_evol_cmd("method:seed", api.openai_url), db_url)])
        assert again["status"] == "succeeded" and "stopped_items" not in again
        resent = api.requests - sent
        [third] = finish([start(_evol_cmd("method:seed", api.openai_url), db_url)])
        assert api.requests == sent + resent and third["records_inserted"] == 0
    # every answer the server gave is one distinct cached request: nothing was sent twice
    keys = [k for (k,) in _rows(db_url, "SELECT key FROM payments")]
    assert len(keys) == len(set(keys)) == sum(api.served.values())
    # every item evolved once per round, each evolution one record, none twice
    rows = _rows(db_url, "SELECT uid, round, run_id FROM records WHERE method = 'evol_instruct'")
    assert len(rows) == len({u for u, _, _ in rows}) == 4 * 3
    assert Counter(r for _, r, _ in rows) == {1: 4, 2: 4, 3: 4}
    # the rerun took over what it replayed from the partial run: it owns all 12 (README "Ownership")
    assert Counter(run for _, _, run in rows) == {again["run_id"]: 12} and again["records_inserted"] == 12
    assert resent <= 3 * 3  # the stopped item's 3 rounds: rewrite, answer and judge at most
