"""Run leases, the cache's winner, the ledger and the cache identity of an endpoint, in one process."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from datagen.endpoint import ModelEndpoint
from datagen.generation.pool import NewRecord, write_records
from datagen.providers.base import Request, Result, SamplingParams
from datagen.providers.cache import CompletionCache
from datagen.providers.exec_config import ExecConfig
from datagen.providers.executor import Executor
from datagen.providers.registry import make_provider
from datagen.store import lease
from datagen.store.models import Payment, Record, Run, utcnow
from datagen.store.runs import start_run, tracked_run
from datagen.views import list_runs
from tests.fake_api import FakeAPI


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def set_lease(store, run_id: int, **values) -> None:  # type: ignore[no-untyped-def]
    with store.session() as s:
        s.execute(update(Run).where(Run.id == run_id).values(status="running", **values))


def alive(store, run_id: int) -> bool:  # type: ignore[no-untyped-def]
    with store.session() as s:
        run = s.get(Run, run_id)
        assert run is not None
        return lease.is_alive(run)


def test_who_is_alive(store) -> None:  # type: ignore[no-untyped-def]
    with tracked_run(store, "generate", {}) as mine:
        assert alive(store, mine.id)  # held by this process
        other = start_run(store, "generate", {})
        assert not alive(store, other)  # this process's pid, but it does not hold it: left over
        set_lease(store, other, pid=dead_pid())
        assert not alive(store, other)  # kill -9 on this host shows at once
        old = utcnow() - timedelta(seconds=lease.LEASE_S + 5)
        set_lease(store, other, host="elsewhere", pid=1, heartbeat_at=utcnow())
        assert alive(store, other)  # another host: trusted while its heartbeat is fresh
        set_lease(store, other, heartbeat_at=old)
        assert not alive(store, other)
        set_lease(store, other, host=None, pid=None, heartbeat_at=None)
        assert not alive(store, other)  # written before leases existed
    assert not alive(store, mine.id)  # closed


def test_a_stale_run_is_shown_interrupted_and_reaped_by_the_next_run(store) -> None:  # type: ignore[no-untyped-def]
    live = start_run(store, "generate", {})
    set_lease(store, live, host="elsewhere", heartbeat_at=utcnow())
    stale = start_run(store, "generate", {})
    set_lease(store, stale, pid=dead_pid())
    rows = {r["id"]: (r["status"], r["stale"]) for r in list_runs(store)}
    assert rows[stale] == ("interrupted", True) and rows[live] == ("running", False)
    start_run(store, "filter", {})
    with store.session() as s:
        assert s.get(Run, stale).status == "interrupted"  # type: ignore[union-attr]
        assert "lease lapsed" in (s.get(Run, stale).error or "")  # type: ignore[union-attr]
        assert s.get(Run, live).status == "running"  # type: ignore[union-attr]


def test_heartbeat_renews_the_lease(store) -> None:  # type: ignore[no-untyped-def]
    run = start_run(store, "generate", {})
    set_lease(store, run, heartbeat_at=utcnow() - timedelta(hours=1))
    beat = lease.Heartbeat(store, run, every_s=0.05).start()
    time.sleep(0.3)
    beat.stop()
    with store.session() as s:
        at = s.get(Run, run).heartbeat_at  # type: ignore[union-attr]
    assert at is not None and lease._age_s(at, utcnow()) < 1


def test_records_are_adopted_from_dead_runs_only(store) -> None:  # type: ignore[no-untyped-def]
    def item(i: int) -> NewRecord:
        return NewRecord(f"u{i}", {"method": "self_instruct", "instruction": f"task {i}"})

    live, dead, me = (start_run(store, "generate", {}) for _ in range(3))
    set_lease(store, live, host="elsewhere", heartbeat_at=utcnow())
    set_lease(store, dead, pid=dead_pid())
    assert write_records(store, live, [item(0)])[1] == 1
    assert write_records(store, dead, [item(1)])[1] == 1
    with tracked_run(store, "generate", {}) as run:
        me = run.id
        _, gained = write_records(store, me, [item(0), item(1), item(2)])
    assert gained == 2  # the dead run's record and a new one; the live run's record stays with it
    with store.session() as s:
        owners = dict(s.execute(select(Record.uid, Record.run_id)).all())
    assert owners == {"u0": live, "u1": me, "u2": me}


def test_the_first_answer_cached_is_the_answer_and_both_are_paid(store) -> None:  # type: ignore[no-untyped-def]
    cache = CompletionCache(store, "openai", "m")
    req = Request.of([{"role": "user", "content": "hi"}], SamplingParams())
    key = cache.key(req)
    first = cache.put([(key, req, Result("one", "m", 3, 1, cost_usd=0.5))], run_id=None)
    second = cache.put([(key, req, Result("two", "m", 3, 2, cost_usd=0.7))], run_id=None)
    assert (first[key].text, first[key].cached) == ("one", False)
    assert (second[key].text, second[key].cached) == ("one", True)  # the loser uses the winner's answer
    with store.session() as s:
        paid = [
            (p.completion_tokens, p.cost_usd, p.stored)
            for p in s.scalars(select(Payment).order_by(Payment.id))
        ]
    assert paid == [(1, 0.5, True), (2, 0.7, False)]


def test_the_same_server_under_another_address_replays_and_cache_as_tells_servers_apart(store) -> None:  # type: ignore[no-untyped-def]
    reqs = [
        Request.of([{"role": "user", "content": f"q{i}"}], SamplingParams(max_tokens=5)) for i in range(3)
    ]
    with FakeAPI() as api:
        port = api.url.rsplit(":", 1)[1]
        for host in ("127.0.0.1", "localhost"):
            endpoint = ModelEndpoint(
                provider="openai",
                model="gpt-4o-mini",
                options={"base_url": f"http://{host}:{port}/v1"},
                api_key="k",
            )
            Executor(store, make_provider(endpoint), ExecConfig()).run(reqs, progress=False)
        assert api.requests == 3  # the second address replayed every answer
        other = ModelEndpoint(
            provider="openai",
            model="gpt-4o-mini",
            options={"base_url": api.openai_url},
            api_key="k",
            cache_as="v2",
        )
        Executor(store, make_provider(other), ExecConfig()).run(reqs, progress=False)
        assert api.requests == 6  # said to be a different model: asked again


def test_a_pipeline_alive_elsewhere_is_not_taken_over(store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datagen.config import resolved
    from datagen.errors import InputError
    from datagen.pipeline import IDENTITY_IGNORES, _start_or_resume
    from datagen.pipeline_config import PipelineConfig
    from datagen.stage import run_identity

    cfg = PipelineConfig(output_dir=str(tmp_path))
    run = start_run(store, "pipeline", {})
    identity = run_identity(resolved(cfg), IDENTITY_IGNORES)
    counters = {"identity": identity, "stages": {}}
    set_lease(store, run, host="elsewhere", heartbeat_at=utcnow(), counters=counters)
    with pytest.raises(InputError, match=f"pipeline run {run} with this recipe is running"):
        _start_or_resume(store, cfg, {})
    set_lease(store, run, heartbeat_at=utcnow() - timedelta(hours=1))  # its process is gone: resumed
    assert _start_or_resume(store, cfg, {}).id == run
