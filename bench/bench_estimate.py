"""``--estimate`` against the run it estimates, both methods in one go, on the loopback chat-like teacher.

The loopback fake API (tests/fake_api.py) answers as a chat model would for a share of the replies
(tests/chat_teacher.py: preambles, markdown, sign-offs, run-ons, replies cut by the length limit); the real
openai SDK talks to it through the executor, priced as gpt-4o-mini. For each method: ``--estimate``, then the
real run on the same database (it replays what the estimate bought). Actual = what the two together sent and
paid (every request the run needed, once) and the steps the run took; error = estimate / actual - 1.

    .venv/bin/python bench/bench_estimate.py [--n 100 --evol-items 100 --rounds 2 --chat-share 0.4 --seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datagen.generation.config import EvolConfig, SelfInstructConfig
from datagen.generation.estimate import estimate_evol, estimate_self_instruct
from datagen.generation.evol_instruct import run_evol
from datagen.generation.self_instruct import run_self_instruct
from datagen.store import open_store
from datagen.store.models import Run
from tests.fake_api import FakeAPI


def spent(store: Any, *run_ids: int) -> tuple[int, float]:
    """Requests sent and USD paid by these runs (their executor counters)."""
    with store.session() as s:
        runs = [s.get(Run, i) for i in run_ids]
        return (
            sum(int(r.counters.get("requests", 0)) for r in runs),
            sum(float(r.counters.get("cost_usd", 0.0)) for r in runs),
        )


def error(estimate: float, actual: float) -> str:
    return f"{(estimate / actual - 1) * 100:+.1f}%" if actual else "n/a"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100, help="Self-Instruct: instructions to accept")
    ap.add_argument("--evol-items", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--chat-share", type=float, default=0.4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, FakeAPI(chat_share=args.chat_share) as api:
        store = open_store(str(Path(tmp) / "bench.db"))
        teacher = {"provider": "openai", "model": "gpt-4o-mini", "api_key": "sk-bench", "seed": args.seed,
                   "options": {"base_url": api.openai_url}}  # fmt: skip
        si_cfg = SelfInstructConfig(seeds="builtin", n=args.n, **teacher)  # type: ignore[arg-type]
        est = estimate_self_instruct(store, si_cfg)
        real = run_self_instruct(store, si_cfg)
        requests, cost = spent(store, est["run_id"], real.run_id)
        rows.append(("self-instruct", est, real.summary, requests, cost, real.summary["steps"]))

        evol_cfg = EvolConfig(
            source=f"run:{real.run_id}", limit=args.evol_items, rounds=args.rounds, **teacher
        )  # type: ignore[arg-type]
        est = estimate_evol(store, evol_cfg)
        real = run_evol(store, evol_cfg)
        requests, cost = spent(store, est["run_id"], real.run_id)
        rows.append(("evol-instruct", est, real.summary, requests, cost, None))
        store.close()
    print(
        "| method | estimated cost | actual cost | error | est. requests | actual requests | error | est. steps | steps |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, est, _summary, requests, cost, steps in rows:
        est_steps = est.get("projected_steps", "-")
        print(
            f"| {name} | ${est['est_cost_usd']:.5f} | ${cost:.5f} | {error(est['est_cost_usd'], cost)} | "
            f"{est['projected_requests']} | {requests} | {error(est['projected_requests'], requests)} | "
            f"{est_steps} | {steps if steps is not None else '-'} |"
        )
    for name, est, summary, *_ in rows:
        print(name, "estimate:", json.dumps(est))
        print(name, "run:", json.dumps(summary))


if __name__ == "__main__":
    main()
