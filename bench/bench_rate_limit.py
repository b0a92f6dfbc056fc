"""API path under a rate limit: achieved request rate vs the configured limit, duplicates, lost requests.

The loopback fake API (tests/fake_api.py) enforces ``--rpm`` itself (token bucket, burst 2, answering 429
with retry-after) and adds ``--latency`` seconds per answer. The real openai SDK talks to it through the
executor. Two runs over the same requests, each with a fresh cache:

* paced: the executor's rpm pacing at the server's limit (what datagen does);
* naive: no client-side pacing, the same concurrency, relying on 429 + retry-after (what a plain client
  loop with SDK-style retries does).

Achieved rate = (requests answered - 1) / (time between first and last answer) · 60.

    .venv/bin/python bench/bench_rate_limit.py [--rpm 1200 --n 400 --concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datagen.endpoint import ModelEndpoint
from datagen.providers.base import Request, SamplingParams
from datagen.providers.exec_config import ExecConfig
from datagen.providers.executor import Executor
from datagen.providers.registry import make_provider
from datagen.store import open_store
from datagen.store.runs import RunHandle, start_run
from tests.fake_api import FakeAPI


def one(label: str, rpm: float, n: int, concurrency: int, latency: float, pace: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(str(Path(tmp) / "bench.db"))
        requests = [
            Request.of([{"role": "user", "content": f"task {i}"}], SamplingParams(max_tokens=16))
            for i in range(n)
        ]
        with FakeAPI(rpm=rpm, burst=2, latency_s=latency) as api:
            provider = make_provider(
                ModelEndpoint(
                    provider="openai",
                    model="gpt-4o-mini",
                    options={"base_url": api.openai_url},
                    api_key="bench",
                )
            )
            cfg = ExecConfig(
                concurrency=concurrency,
                rpm=rpm if pace else None,
                max_retries=50,
                backoff_s=0.05,
                backoff_max_s=1,
            )
            run = RunHandle(store, start_run(store, "bench", {}))
            t0 = time.monotonic()
            results = Executor(store, provider, cfg, run).run(requests, progress=False)
            wall = time.monotonic() - t0
            lost = sum(r.text != f"reply to: task {i}" for i, r in enumerate(results)) + (n - len(results))
            span = api.ok_times[-1] - api.ok_times[0]
            row = {
                "achieved_rpm": (len(api.ok_times) - 1) / span * 60,
                "ratio": (len(api.ok_times) - 1) / span * 60 / rpm,
                "wall_s": wall,
                "http_requests": api.requests,
                "http_429": api.rate_limited,
                "duplicates": api.duplicates(),
                "lost": lost,
                "retries": run.counters["retries"],
            }
        store.close()
    print(
        f"{label:6s} limit {rpm:.0f} rpm: achieved {row['achieved_rpm']:.1f} rpm ({row['ratio']:.1%}), "
        f"wall {row['wall_s']:.1f} s, {row['http_requests']} HTTP requests for {n}, 429s {row['http_429']}, "
        f"retries {row['retries']}, duplicates {row['duplicates']}, lost {row['lost']}"
    )
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rpm", type=float, default=1200)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--latency", type=float, default=0.05)
    args = ap.parse_args()
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} (no model here); n={args.n}")
    paced = one("paced", args.rpm, args.n, args.concurrency, args.latency, pace=True)
    naive = one("naive", args.rpm, args.n, args.concurrency, args.latency, pace=False)
    ok = paced["ratio"] >= 0.95 and paced["duplicates"] == 0 and paced["lost"] == 0
    print(
        f"paced/naive HTTP requests: {paced['http_requests']}/{naive['http_requests']}; "
        f"target (>= 95% of the limit, 0 duplicates, 0 lost): {'met' if ok else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
