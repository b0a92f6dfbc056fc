"""Helpers for the many-process tests: a teacher whose every answer is new, the ``datagen`` child processes,
and the checks every test makes on the database afterwards (ownership, provenance, the ledger against the
server's own count, no run left running).

``NonceTeacher`` numbers its answers: the same request answered twice (two processes at once) gets two
different texts, so a record built from one answer while the cache holds the other shows up as a provenance
error. It also keeps the server's bill: prompt tokens as the fake counts them (words of the messages) and
completion tokens of every answer it gave.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from datagen.store.models import Completion, Payment, Record, Run

ROOT = Path(__file__).resolve().parent.parent
# 36 made-up words: tasks drawn from them rarely look alike, so Self-Instruct's novelty filter keeps many
WORDS = [
    a + b
    for a in ("riv", "lan", "cop", "mea", "vio", "har")
    for b in ("er", "tern", "dow", "lin", "bor", "sel")
]
PRICE = (0.15, 0.60)  # gpt-4o-mini, USD per 1M tokens: the price table the executor uses


@dataclass
class NonceTeacher:
    """A scripted teacher (``FakeAPI(responder=...)``) whose answers are all different (see the module)."""

    n: int = 0
    completion_tokens: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, prompt: str) -> str:
        with self.lock:
            self.n += 1
            n = self.n
        rng = random.Random(n)
        w = rng.sample(WORDS, 6)
        if prompt.startswith("Come up with a series of tasks"):
            text = (
                f"Explain how the {w[0]} relates to the {w[1]} in answer {n}.\n"
                f"10. Compare a {w[2]} with a {w[3]} for reader {n}."
            )
        elif prompt.startswith("Can the following task"):
            text = "No"
        else:
            text = f"Example 1\nInput: A {w[4]} story, number {n}.\nOutput: The {w[5]} answer {n}."
        with self.lock:
            self.completion_tokens += len(text.split())
        return text


def server_prompt_tokens(bodies: list[dict[str, Any]]) -> int:
    """Prompt tokens of every answered request, as the fake bills them (words of the messages)."""
    return sum(
        sum(len(str(m.get("content", "")).split()) for m in b.get("messages", []))
        + len(str(b.get("system", "")).split())
        for b in bodies
    )


def env(db_url: str) -> dict[str, str]:
    return {**os.environ, "DATAGEN_DB": db_url, "DATAGEN_PROGRESS": "0", "OMP_NUM_THREADS": "1"}


def generate_cmd(seeds: Path, api_url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "datagen", "generate", "self-instruct", "--seeds", str(seeds), "--n", "8",
            "--max-steps", "3", "--prompts-per-step", "4", "--concurrency", "4", "--provider", "openai",
            "--model", "gpt-4o-mini", "--option", f"base_url={api_url}", "--api-key", "sk-test", "--json",
            *extra]  # fmt: skip


def start(cmd: list[str], db_url: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """A ``datagen`` process (in ``cwd``, where it may write files: a filter run writes its histogram there)."""
    return subprocess.Popen(
        cmd, cwd=cwd or ROOT, env=env(db_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(procs: list[subprocess.Popen[str]], timeout: float = 60) -> list[dict[str, Any]]:
    """Wait for every process; each must exit 0; their JSON summaries."""
    outs = [p.communicate(timeout=timeout) for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), outs
    return [json.loads(out) for out, _ in outs]


@dataclass
class Snapshot:
    """What the database holds after the processes are gone."""

    runs: list[Run]
    records: list[Record]
    completions: dict[str, Completion]
    payments: list[Payment]

    @classmethod
    def of(cls, db_url: str) -> Snapshot:
        engine = create_engine(db_url)
        with Session(engine) as s:
            snap = cls(
                list(s.scalars(select(Run).order_by(Run.id))),
                list(s.scalars(select(Record).order_by(Record.id))),
                {c.key: c for c in s.scalars(select(Completion))},
                list(s.scalars(select(Payment))),
            )
            s.expunge_all()
        engine.dispose()
        return snap

    def owned(self, run_id: int) -> int:
        return sum(r.run_id == run_id for r in self.records)

    def check_provenance(self) -> None:
        """Every generated record cites cached replies that hold what it says; one origin (request, candidate)
        is one instruction; no record is made twice from one cached reply."""
        origins: dict[tuple[str, int], set[str]] = {}
        made: Counter[tuple[str, int, int | None]] = Counter()
        for r in self.records:
            if r.method != "self_instruct":
                continue
            assert r.request_hash in self.completions, f"record {r.id} cites a reply that is not cached"
            gen = r.meta.get("generate_request")
            if gen is None:  # a task list that could not be parsed: the raw reply is the cached one
                assert r.raw == self.completions[r.request_hash].text
                continue
            assert gen in self.completions
            assert r.instruction in self.completions[gen].text, (r.id, r.instruction)
            origins.setdefault((gen, r.meta["candidate_index"]), set()).add(r.instruction)
            made[(gen, r.meta["candidate_index"], r.meta.get("instance_index"))] += 1
            if "instance_request" in r.meta and r.output:
                assert r.output in self.completions[r.meta["instance_request"]].text, (r.id, r.output)
        assert all(len(v) == 1 for v in origins.values()), {k: v for k, v in origins.items() if len(v) > 1}
        assert all(n == 1 for n in made.values()), [k for k, n in made.items() if n > 1]

    def check_ledger(
        self, served: int, prompt_tokens: int, completion_tokens: int, in_flight: int = 0
    ) -> None:
        """The ledger against the server's own count: every answer it served is paid once in the ledger (less
        at most ``in_flight`` answers lost to a kill), tokens and cost alike; each cached answer has exactly
        one stored payment."""
        paid = len(self.payments)
        assert served - in_flight <= paid <= served, (paid, served)
        stored = Counter(p.key for p in self.payments if p.stored)
        assert set(stored) == set(self.completions) and set(stored.values()) == {1}
        if in_flight == 0:
            assert sum(p.prompt_tokens for p in self.payments) == prompt_tokens
            assert sum(p.completion_tokens for p in self.payments) == completion_tokens
            bill = (prompt_tokens * PRICE[0] + completion_tokens * PRICE[1]) / 1_000_000
            assert abs(sum(p.cost_usd for p in self.payments) - bill) < 1e-9

    def check_runs_closed(self) -> None:
        assert [r.id for r in self.runs if r.status == "running"] == []
