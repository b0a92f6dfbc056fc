"""Many processes, one database (SQLite and PostgreSQL): identical commands at once, kill -9, SIGTERM, leases.

Every test runs real ``datagen`` processes against the loopback teacher (``tests/fake_api.py``) and then checks
the database (``tests/concurrency_kit.py``): each run owns exactly the records its summary counts, every
record's provenance matches the cached reply, no cached reply is used twice, the ledger equals the server's
own count, and no run is left ``running``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from tests.concurrency_kit import NonceTeacher, Snapshot, finish, generate_cmd, server_prompt_tokens, start
from tests.fake_api import FakeAPI
from tests.gen_fakes import write_seeds

PG_ADMIN = os.environ.get("DATAGEN_TEST_PG_URL", "")
SEEDS = [
    ("Give three tips for staying healthy during the winter months.", False),
    ("Decide whether the given movie review is positive or negative.", True),
    ("Translate the given English sentence into French.", False),
    ("Suggest a name for a bakery that sells only bread.", False),
]
pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database: a SQLite file, or a database of its own on the test PostgreSQL server."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'c.db'}"
        monkeypatch.setenv("DATAGEN_DB", url)
        yield url
        return
    if not PG_ADMIN:
        pytest.skip("no PostgreSQL server (set DATAGEN_TEST_PG_URL; make test does)")
    name = f"datagen_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("DATAGEN_DB", url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def seeds(tmp_path: Path, db_url: str) -> Path:
    """The seed file, imported once before the processes start (so they race on generation, not on it)."""
    from datagen.store import open_store

    path = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    store = open_store(db_url)  # creates the schema
    store.close()
    r = subprocess.run(
        [sys.executable, "-m", "datagen", "--db", db_url, "import", str(path)], capture_output=True
    )
    assert r.returncode == 0, r.stderr
    return path


def test_identical_commands_at_once_own_what_they_count_and_use_the_cached_answer(
    db_url: str, seeds: Path
) -> None:
    teacher = NonceTeacher()
    with FakeAPI(latency_s=0.1, responder=teacher) as api:
        procs = [start(generate_cmd(seeds, api.openai_url), db_url) for _ in range(3)]
        summaries = finish(procs)
    snap = Snapshot.of(db_url)
    snap.check_runs_closed()
    for summary in summaries:
        assert summary["status"] == "succeeded"
        assert snap.owned(summary["run_id"]) == summary["records_inserted"], summary
    assert sum(s["records_inserted"] for s in summaries) == sum(
        r.method == "self_instruct" for r in snap.records
    )
    snap.check_provenance()
    snap.check_ledger(sum(api.served.values()), server_prompt_tokens(api.bodies), teacher.completion_tokens)
    # the three agree: each used the cached answer, so each step saw the same tasks
    assert len({s["instructions_accepted"] for s in summaries}) == 1
    # answers paid for twice because two processes asked at once are counted, not hidden
    assert sum(s["paid_duplicates"] for s in summaries) == sum(not p.stored for p in snap.payments)


def _wait_for_answers(db_url: str, n: int, proc: subprocess.Popen[str], deadline_s: float = 30) -> None:
    engine = create_engine(db_url)
    deadline = time.monotonic() + deadline_s
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            try:
                with engine.connect() as conn:
                    if conn.execute(text("SELECT count(*) FROM payments")).scalar_one() >= n:
                        return
            except Exception:  # the schema is not there yet
                pass
            time.sleep(0.02)
        raise AssertionError(f"fewer than {n} answers written in {deadline_s} s")
    finally:
        engine.dispose()


def test_kill_9_beside_a_live_run_then_rerun(db_url: str, seeds: Path, run_cli) -> None:
    teacher = NonceTeacher()
    with FakeAPI(latency_s=0.1, responder=teacher) as api:
        victim = start(generate_cmd(seeds, api.openai_url), db_url)
        survivor = start(generate_cmd(seeds, api.openai_url), db_url)
        _wait_for_answers(db_url, 6, victim)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        served_at_kill = sum(api.served.values())
        # the dead run is shown as interrupted (stale), while the survivor goes on untouched
        runs = json.loads(run_cli("runs", "--kind", "generate", "--json").stdout)
        dead = next(r for r in runs if r["pid"] == victim.pid)
        assert (dead["status"], dead["stale"]) == ("interrupted", True)
        [alive] = finish([survivor])
        [rerun] = finish([start(generate_cmd(seeds, api.openai_url), db_url)])
    snap = Snapshot.of(db_url)
    snap.check_runs_closed()
    assert next(r for r in snap.runs if r.id == dead["id"]).status == "interrupted"
    assert snap.owned(alive["run_id"]) == alive["records_inserted"]
    assert snap.owned(rerun["run_id"]) == rerun["records_inserted"]
    assert snap.owned(dead["id"]) + snap.owned(alive["run_id"]) + snap.owned(rerun["run_id"]) == sum(
        r.method == "self_instruct" for r in snap.records
    )
    snap.check_provenance()
    # what was in flight at the kill (at most --concurrency answers) may be paid but not in the ledger
    snap.check_ledger(sum(api.served.values()), 0, 0, in_flight=4)
    assert len(snap.payments) >= served_at_kill - 4


def test_sigterm_writes_every_answer_received_and_exits_within_two_seconds(db_url: str, seeds: Path) -> None:
    teacher = NonceTeacher()
    with FakeAPI(latency_s=0.3, responder=teacher) as api:
        proc = start(generate_cmd(seeds, api.openai_url), db_url)
        _wait_for_answers(db_url, 5, proc)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
        time.sleep(0.4)  # anything the server was still answering has been sent by now
        served = sum(api.served.values())
    assert proc.returncode == 143 and "terminated; rerun the same command to resume" in err, err
    assert took < 2.0, took
    snap = Snapshot.of(db_url)
    snap.check_runs_closed()
    assert [r.status for r in snap.runs if r.kind == "generate"] == ["interrupted"]
    # every answer the server sent was received and written (the calls in flight finished within the grace)
    snap.check_ledger(served, server_prompt_tokens(api.bodies), teacher.completion_tokens)


def test_unchanged_seeds_add_no_import_run(db_url: str, seeds: Path, run_cli) -> None:
    with FakeAPI(responder=NonceTeacher()) as api:
        for _ in range(2):
            [summary] = finish([start(generate_cmd(seeds, api.openai_url, "--max-steps", "1"), db_url)])
            assert summary["status"] == "succeeded"
    engine = create_engine(db_url)
    with engine.connect() as conn:
        kinds = conn.execute(
            select(text("kind"), func.count()).select_from(text("runs")).group_by(text("kind"))
        )
        assert dict(kinds.all()) == {"import": 1, "generate": 2}  # the fixture's import, nothing since
    engine.dispose()


def test_two_filter_processes_on_the_same_records_both_finish_with_one_verdict_each(
    db_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data.jsonl"
    rows = [{"instruction": f"Describe the number {i} to a curious child in three short sentences.",
             "output": f"The number {i} is {'even' if i % 2 == 0 else 'odd'} and comes after {i - 1}."}
            for i in range(3000)]  # fmt: skip
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cmd = [sys.executable, "-m", "datagen", "--db", db_url]
    r = subprocess.run([*cmd, "import", str(data)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    filters = [*cmd, "filter", "--only", "heuristics", "--batch-size", "100", "--scope", "all", "--json"]
    procs = [start(filters, db_url, cwd=tmp_path) for _ in range(2)]
    summaries = finish(procs)
    assert [s["records"] for s in summaries] == [3000, 3000]
    engine = create_engine(db_url)
    with engine.connect() as conn:
        per_record = conn.execute(
            text("SELECT count(*) FROM verdicts GROUP BY record_id, filter_name, filter_version")
        ).scalars()
        assert set(per_record) == {1}
        assert conn.execute(text("SELECT count(DISTINCT record_id) FROM verdicts")).scalar_one() == 3000
        assert conn.execute(text("SELECT count(*) FROM runs WHERE status = 'running'")).scalar_one() == 0
    engine.dispose()


def _workers_alive(db_url: str, deadline_s: float = 10) -> list[int]:
    """Wait until the worker processes have closed their runs; the ids of those still running."""
    engine = create_engine(db_url)
    deadline = time.monotonic() + deadline_s
    try:
        while True:
            with engine.connect() as conn:
                running = list(conn.execute(text("SELECT id FROM runs WHERE status = 'running'")).scalars())
            if not running or time.monotonic() > deadline:
                return running
            time.sleep(0.1)
    finally:
        engine.dispose()


WORKER_RUN = (
    "--workers",
    "3",
    "--n",
    "40",
    "--max-steps",
    "3",
    "--prompts-per-step",
    "12",
    "--concurrency",
    "2",
)


def test_workers_share_one_run_and_one_killed_loses_nothing(db_url: str, seeds: Path) -> None:
    teacher = NonceTeacher()
    with FakeAPI(latency_s=0.3, responder=teacher) as api:
        proc = start(generate_cmd(seeds, api.openai_url, *WORKER_RUN), db_url)
        engine = create_engine(db_url)
        victim = None
        deadline = time.monotonic() + 40
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            with engine.connect() as conn:  # a worker that has been paid for an answer
                victim = conn.execute(
                    text(
                        "SELECT r.pid FROM runs r JOIN payments p ON p.run_id = r.id WHERE r.kind = 'worker' LIMIT 1"
                    )
                ).scalar()
            time.sleep(0.05)
        engine.dispose()
        assert victim is not None, "no worker took part"
        os.kill(victim, signal.SIGKILL)
        [summary] = finish([proc])
        assert _workers_alive(db_url) == []  # the other workers stopped when the run ended
        served = sum(api.served.values())
    assert summary["status"] == "succeeded"
    snap = Snapshot.of(db_url)
    workers = [r for r in snap.runs if r.kind == "worker"]
    assert len(workers) == 2 and {w.parent_run_id for w in workers} == {summary["run_id"]}
    assert {w.status for w in workers} == {"succeeded", "interrupted"}  # the killed one was reaped
    assert (
        snap.owned(summary["run_id"]) == summary["records_inserted"]
    )  # records are written by the run itself
    snap.check_provenance()
    # the killed worker's answers in flight (at most its --concurrency 2) may have been paid and not kept
    snap.check_ledger(served, 0, 0, in_flight=2)
    assert sum(1 for p in snap.payments if p.run_id in {w.id for w in workers}) > 0
