"""``datagen filter --workers N`` / ``--share-work`` with ``datagen worker --run ID`` (filters/shared.py), on
SQLite and PostgreSQL with real processes: the same verdicts and kept set as the single-process chain on the same
records (near-duplicates included: dedup runs serialized at the end), and a worker killed with SIGKILL mid-run
loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from filters.chain import run_filters
from filters.config import FilterConfig
from tests.concurrency_kit import env
from tests.filter_fixtures import LONG_OUTPUT, add_records
from tests.test_concurrency import db_url  # noqa: F401 (a fixture)

# ruff: noqa: F811  (the fixture imported above is a parameter here)
pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parent.parent
TOPICS = ["photosynthesis", "a rainbow", "a volcano", "the tide", "a compass", "an eclipse", "rust", "thunder",
          "a vaccine", "a battery", "a glacier", "an echo"]  # fmt: skip
FILTERS = ["--filters", "heuristics", "--filters", "toxicity", "--filters", "dedup"]


def rows() -> list[dict[str, Any]]:
    """Per topic: a task, its near-duplicate, an exact copy; every third topic also a task heuristics drops."""
    out = []
    for i, topic in enumerate(TOPICS):
        out.append({"instruction": f"Explain how {topic} works in everyday life.", "output": LONG_OUTPUT})
        out.append({"instruction": f"Explain how {topic} works in everyday life!", "output": LONG_OUTPUT})
        out.append({"instruction": f"Explain how {topic} works in everyday life.", "output": LONG_OUTPUT})
        if i % 3 == 0:
            out.append({"instruction": f"Describe {topic}.", "output": "ok"})
    return out


def outcome(url: str) -> tuple[set[tuple], dict[str, str]]:
    """Every verdict (record uid, filter, passed, reason, duplicate_of's uid) and every record's status."""
    engine = create_engine(url)
    with engine.connect() as conn:
        uid = dict(conn.execute(text("SELECT id, uid FROM records")).all())
        verdicts = conn.execute(
            text("SELECT record_id, filter_name, passed, reason, details FROM verdicts")
        ).all()
        status = dict(conn.execute(text("SELECT uid, status FROM records")).all())
    engine.dispose()
    seen = set()
    for rid, name, passed, reason, details in verdicts:
        details = json.loads(details) if isinstance(details, str) else details
        dup = details.get("duplicate_of")
        seen.add((uid[rid], name, bool(passed), reason, uid.get(dup) if dup else None))
    return seen, status


@pytest.fixture
def reference(tmp_path: Path) -> tuple[set[tuple], dict[str, str]]:
    """The single-process chain's verdicts and statuses on the same records."""
    from datagen.store import open_store

    url = f"sqlite:///{tmp_path / 'ref.db'}"
    store = open_store(url)
    add_records(store, rows())
    cfg = FilterConfig(filters=["heuristics", "toxicity", "dedup"], batch_size=5, histogram_png=None)
    summary = run_filters(store, cfg)
    store.close()
    assert summary["kept"] == len(TOPICS) and summary["dropped"] == len(rows()) - len(TOPICS)
    return outcome(url)


def _filled(url: str) -> None:
    from datagen.store import open_store

    store = open_store(url)
    add_records(store, rows())
    store.close()


def test_workers_keep_what_one_process_keeps(db_url: str, reference: Any, tmp_path: Path) -> None:
    _filled(db_url)
    cmd = [sys.executable, "-m", "datagen", "filter", *FILTERS, "--workers", "3", "--batch-size", "5", "--json",
           "--histogram-png", ""]  # fmt: skip
    r = subprocess.run(cmd, env=env(db_url), cwd=tmp_path, capture_output=True, text=True, timeout=150)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["kept"], summary["dropped"]) == (len(TOPICS), len(rows()) - len(TOPICS))
    # every verdict counted once as this run's, wherever it was made
    assert summary["filters"]["heuristics"]["scored"] == len(rows())
    assert summary["filters"]["heuristics"]["reused"] == 0
    assert outcome(db_url) == reference
    engine = create_engine(db_url)
    with engine.connect() as conn:
        items = conn.execute(text("SELECT status, count(*) FROM work_items GROUP BY status")).all()
        runs = conn.execute(text("SELECT kind, status FROM runs WHERE kind IN ('filter', 'worker')")).all()
        judged = conn.execute(text("SELECT count(DISTINCT run_id) FROM verdicts")).scalar()
    engine.dispose()
    assert items == [("done", -(-len(rows()) // 5))]
    assert sorted(runs) == [("filter", "succeeded"), ("worker", "succeeded"), ("worker", "succeeded")]
    assert judged == 1  # every verdict belongs to the shared run


SLOW = """
import sys, time
sys.path.insert(0, {root!r})
from filters.heuristics import HeuristicsFilter
real = HeuristicsFilter.score
def slow(self, records):
    time.sleep({pause!r})
    out = real(self, records)
    print("scored", len(records), file=sys.stderr, flush=True)
    return out
HeuristicsFilter.score = slow
import filters.shared as shared
work = shared.work
def late(*args, **kwargs):  # this process starts claiming batches only after a while
    time.sleep({delay!r})
    return work(*args, **kwargs)
shared.work = late
from datagen.cli import main
main({argv!r})
"""


def _slow(argv: list[str], url: str, cwd: Path, pause: float, delay: float = 0.0) -> subprocess.Popen[str]:
    """The command with heuristics taking ``pause`` seconds more per call (a slow model), claiming batches only
    after ``delay`` seconds."""
    code = SLOW.format(root=str(ROOT), argv=argv, pause=pause, delay=delay)
    return subprocess.Popen([sys.executable, "-c", code], env=env(url), cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _poll(url: str, sql: str, params: dict[str, Any], deadline_s: float = 120) -> Any:
    engine = create_engine(url)
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < deadline_s:
            with engine.connect() as conn:
                got = conn.execute(text(sql), params).scalar()
            if got:
                return got
            time.sleep(0.05)
    finally:
        engine.dispose()
    raise AssertionError(f"timed out waiting for: {sql}")


def test_a_worker_killed_mid_run_loses_nothing(db_url: str, reference: Any, tmp_path: Path) -> None:
    _filled(db_url)
    # the main process works slowly (3 s a batch): the workers, once started, find batches left
    main = _slow(["filter", *FILTERS, "--share-work", "--batch-size", "2", "--json", "--histogram-png", ""], db_url,
                 tmp_path, pause=3.0)  # fmt: skip
    run_id = _poll(db_url, "SELECT id FROM runs WHERE kind = 'filter'", {})
    workers = [_slow(["worker", "--run", str(run_id), "--json"], db_url, tmp_path, 0.3) for _ in range(2)]
    sql = "SELECT worker_run_id FROM work_items WHERE status = 'claimed' AND worker_run_id != :main"
    pid = None
    try:  # the first worker seen holding a claim is killed
        mine = _poll(db_url, sql, {"main": run_id})
        pid = _poll(db_url, "SELECT pid FROM runs WHERE id = :w", {"w": mine})
    finally:
        victim = next((w for w in workers if w.pid == pid), workers[0])
        os.kill(victim.pid, signal.SIGKILL)
    survivor = workers[1] if victim is workers[0] else workers[0]
    out, err = main.communicate(timeout=150)
    assert main.returncode == 0, err
    survivor_out, survivor_err = survivor.communicate(timeout=30)
    victim.communicate(timeout=30)
    assert survivor.returncode == 0, survivor_err
    summary = json.loads(out)
    assert (summary["kept"], summary["dropped"]) == (len(TOPICS), len(rows()) - len(TOPICS))
    # nothing lost, nothing judged twice (one verdict per record and filter)
    assert outcome(db_url) == reference
    engine = create_engine(db_url)
    with engine.connect() as conn:
        items = dict(conn.execute(text("SELECT status, count(*) FROM work_items GROUP BY status")).all())
        retried = conn.execute(text("SELECT count(*) FROM work_items WHERE attempts > 1")).scalar()
        runs = dict(
            conn.execute(text("SELECT id, status FROM runs WHERE kind IN ('filter', 'worker')")).all()
        )
    engine.dispose()
    assert items == {"done": -(-len(rows()) // 2)} and retried >= 1  # the victim's claim was taken back
    assert runs[run_id] == "succeeded" and runs[mine] == "interrupted"
    assert "items" in json.loads(survivor_out)


def test_an_api_judges_key_is_never_stored_with_the_work_items() -> None:
    from filters.shared import with_key, without_keys

    cfg = FilterConfig(
        filters=["adherence"], settings={"adherence": {"judge": {"provider": "openai", "api_key": "sk-1"}}}
    )
    stored, keys = without_keys(cfg.model_dump(mode="json"))
    assert "sk-1" not in json.dumps(stored) and keys == [(["settings", "adherence", "judge"], "sk-1")]
    back = with_key(stored, [p for p, _ in keys], "sk-worker")
    assert FilterConfig(**back).settings["adherence"]["judge"]["api_key"] == "sk-worker"
    fresh, _ = without_keys(cfg.model_dump(mode="json"))
    assert "api_key" not in with_key(fresh, [p for p, _ in keys], None)["settings"]["adherence"]["judge"]


def test_a_worker_stopped_by_sigterm_writes_its_verdicts_and_hands_its_batch_back(
    db_url: str, reference: Any, tmp_path: Path
) -> None:
    _filled(db_url)  # 40 records: one batch of 40, two heuristics slices of 32 and 8
    main = _slow(
        ["filter", *FILTERS, "--share-work", "--batch-size", "40", "--json", "--histogram-png", ""],
        db_url,
        tmp_path,
        pause=3.0,
        delay=30.0,
    )  # fmt: skip  (the worker claims the batch first)
    run_id = _poll(db_url, "SELECT id FROM runs WHERE kind = 'filter'", {})
    worker = _slow(["worker", "--run", str(run_id), "--json"], db_url, tmp_path, 1.5)
    sql = "SELECT count(*) FROM verdicts WHERE filter_name = 'heuristics'"
    assert worker.stderr is not None
    line = ""
    while "scored" not in line:  # the first slice (32) scored; the second is being scored
        line = worker.stderr.readline()
        assert line or worker.poll() is None, worker.communicate()
    assert line.split() == ["scored", "32"]
    time.sleep(0.5)
    t0 = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=30)
    took = time.monotonic() - t0
    assert worker.returncode == 143 and took < 2.0, took
    engine = create_engine(db_url)
    with engine.connect() as conn:
        written = conn.execute(text(sql)).scalar()
        item = conn.execute(text("SELECT status, worker_run_id FROM work_items")).one()
    engine.dispose()
    # the verdicts it had computed are written (toxicity runs after heuristics: none yet), its claim handed back
    assert written == 32 and tuple(item) in {("pending", None), ("claimed", run_id), ("done", run_id)}
    out, err = main.communicate(timeout=200)
    assert main.returncode == 0, err
    summary = json.loads(out)
    assert summary["filters"]["heuristics"]["scored"] == 40  # 32 by the worker, 8 here: all this run's
    assert outcome(db_url) == reference
