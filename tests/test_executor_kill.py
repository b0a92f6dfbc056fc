"""kill -9 in the middle of a run: the rerun sends only what was not cached; nothing lost, nothing twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from datagen.endpoint import ModelEndpoint
from datagen.providers.base import Request, SamplingParams
from datagen.providers.exec_config import ExecConfig
from datagen.providers.executor import Executor
from datagen.providers.registry import make_provider
from tests.fake_api import FakeAPI

N = 60
ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys
sys.path.insert(0, {root!r})
from datagen.store import open_store
from datagen.providers.exec_config import ExecConfig
from datagen.providers.executor import Executor
from datagen.endpoint import ModelEndpoint
from datagen.providers.registry import make_provider
from tests.test_executor_kill import requests
p = make_provider(ModelEndpoint(provider="openai", model="gpt-4o-mini", options={{"base_url": {url!r}}}, api_key="k"))
Executor(open_store(), p, ExecConfig(concurrency=4)).run(requests(), progress=False)
print("finished")
"""


def requests() -> list[Request]:
    return [
        Request.of([{"role": "user", "content": f"item {i}"}], SamplingParams(max_tokens=8)) for i in range(N)
    ]


def cached(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as con:
            return int(con.execute("SELECT count(*) FROM completions").fetchone()[0])
    except sqlite3.OperationalError:  # the child has not created the schema yet
        return 0


def test_sigkill_mid_run_then_rerun_loses_nothing_and_pays_once_per_cached_request(
    fresh_db: Path, store
) -> None:  # type: ignore[no-untyped-def]
    with FakeAPI(latency_s=0.05) as api:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD.format(root=str(ROOT), url=api.openai_url)],
            env={**os.environ, "DATAGEN_DB": str(fresh_db)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while cached(fresh_db) < 10 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
        done_before = cached(fresh_db)
        assert 10 <= done_before < N
        served_before = sum(api.served.values())
        # whatever was answered but not yet written is at most what was in flight (concurrency 4)
        assert served_before - done_before <= 4

        sent = api.requests
        p = make_provider(
            ModelEndpoint(
                provider="openai", model="gpt-4o-mini", options={"base_url": api.openai_url}, api_key="k"
            )
        )
        results = Executor(store, p, ExecConfig(concurrency=4)).run(requests(), progress=False)

    assert [r.text for r in results] == [f"reply to: item {i}" for i in range(N)]
    assert api.requests - sent == N - done_before  # the rerun sends only what was not cached
    assert sum(r.cached for r in results) == done_before
    assert cached(fresh_db) == N
