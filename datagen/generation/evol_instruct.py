"""Evol-Instruct as published (Xu et al. 2023, WizardLM), with its elimination step and rounds.

M rounds (default 4). Each round gives every pool item one operation drawn with configurable weights from a
seeded ``random.Random``: in-depth (add_constraints, deepening, concretizing, increase_reasoning,
complicate_input; the rewrite adds only 10-20 words and stays answerable) or in-breadth (a new, rarer task in
the same domain). The teacher answers each evolved instruction and a judge says whether it is Equal to its
parent. Elimination (``elimination.py``) fails an evolution; a failed item returns to the pool unchanged, a
passed one replaces its parent in the pool. Every evolved record has parent_id, operation and round, and an
``evol_elimination`` verdict (passed or the reason); a failed one is filtered_out, an empty rewrite is
parse_failed with the raw text. Replies are read proof against chat teachers (``parsing.parse_rewrite`` /
``parse_answer``: a preamble, a label line, markdown bold and a sign-off or comment are taken off; what was
taken off is in ``meta["stripped"]`` / ``meta["answer_stripped"]`` and the rewrite reply in ``raw``). A
rewrite cut by the length limit fails (``rewrite_truncated``); an answer cut by it is kept with
``meta["truncated"]`` for the heuristics filter to fail.

A request that fails after its retries stops only its own pool item: no record is written for that evolution,
the item sits out the later rounds (``stopped``), every other item goes on, and the run ends ``partial``. Items
are independent (each round's operations are drawn for the whole pool, stopped items included), so a rerun
replays every other item from the cache and carries the stopped ones on from where they stopped: its result is
the one an uninterrupted run would have had.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select

from datagen import progress, prompts
from datagen.config import resolved
from datagen.errors import InputError
from datagen.generation import elimination
from datagen.generation.chatter import Stripped
from datagen.generation.config import OPERATIONS, EvolConfig, parse_source
from datagen.generation.parsing import parse_answer, parse_equal, parse_rewrite
from datagen.generation.pool import NewRecord, VerdictRow, make_uid, write_records
from datagen.generation.teacher import Teacher, provenance, record_fields, whole_answer
from datagen.providers.base import Provider, Request
from datagen.stage import StageResult
from datagen.store.engine import Store
from datagen.store.models import FILTERED_OUT, PARSE_FAILED, REJECTED, Record, Run
from datagen.store.runs import tracked_run

METHOD = "evol_instruct"
ELIMINATION = "evol_elimination"
BATCH = 256  # pool items per executor call and per transaction
EQUAL = whole_answer("not equal", "equal")  # a judge's verdict cut by the length limit that still holds one


@dataclass
class PoolItem:
    """A pool item: the record it currently is (the source, or its latest surviving evolution)."""

    record_id: int
    uid: str
    text: str
    stopped: bool = False  # one of its requests failed: it sits out the later rounds of this run


@dataclass
class Rates:
    attempted: Counter[str] = field(default_factory=Counter)
    passed: Counter[str] = field(default_factory=Counter)

    def table(self) -> dict[str, dict[str, Any]]:
        return {
            k: {"attempted": n, "passed": self.passed[k], "pass_rate": round(self.passed[k] / n, 4)}
            for k, n in self.attempted.items()
        }


@dataclass
class EvolTally:
    by_operation: Rates = field(default_factory=Rates)
    by_round: Rates = field(default_factory=Rates)
    eliminated: Counter[str] = field(default_factory=Counter)
    parse_failed: int = 0
    records: int = 0
    inserted: int = 0


def load_sources(store: Store, source: str, limit: int | None) -> list[PoolItem]:
    """``run:ID`` or ``method:M`` (those records, less the ones filtered out, unparseable or rejected),
    ``status:S`` (exactly that status), or several joined by commas (their union); lowest ids first."""
    usable = Record.status.not_in((FILTERED_OUT, PARSE_FAILED, REJECTED))
    conditions = []
    for kind, value in parse_source(source):  # the syntax was checked with the config
        if kind == "status":
            conditions.append(Record.status == value)
        else:
            column = Record.run_id == int(value) if kind == "run" else Record.method == value
            conditions.append(and_(column, usable))
    q = select(Record).where(or_(*conditions)).order_by(Record.id)
    if limit:
        q = q.limit(limit)
    with store.session() as s:
        for kind, value in parse_source(source):
            if kind == "run" and s.get(Run, int(value)) is None:
                raise InputError(f"--from {source}: run {value} does not exist (see `datagen runs`)")
        rows = s.scalars(q).all()
        items = [PoolItem(r.id, r.uid, _prompt_of(r)) for r in rows]
    if not items:
        raise InputError(f"--from {source}: no records to evolve")
    return items


def _prompt_of(r: Record) -> str:
    """An instruction with its input, as one prompt (Evol-Instruct evolves whole prompts). A conversation's is its
    first user turn: the evolved record is a new single-turn task answered by the teacher."""
    return f"{r.instruction.strip()}\n\n{r.input.strip()}" if r.input.strip() else r.instruction.strip()


class Evol:
    """One Evol-Instruct run over a pool of records."""

    def __init__(self, store: Store, cfg: EvolConfig, pool: list[PoolItem], teacher: Teacher) -> None:
        self.store, self.cfg, self.pool, self.teacher = store, cfg, pool, teacher
        self.rng = random.Random(cfg.seed)
        self.ops = [op for op in OPERATIONS if cfg.weights.get(op, 0) > 0]
        self.weights = [cfg.weights[op] for op in self.ops]
        folder = cfg.templates_dir
        self.templates = {op: prompts.load(f"evol_instruct/{op}", folder) for op in self.ops}
        self.t_answer = prompts.load("evol_instruct/answer", folder)
        self.t_judge = prompts.load("evol_instruct/judge_equal", folder)
        self.tally = EvolTally()

    def write(self, out: list[NewRecord]) -> tuple[dict[str, int], int]:
        """Store a batch's records (uid -> id, how many were new); ``--estimate`` evolves without it."""
        return write_records(self.store, self.teacher.run_handle.id, out)

    def run(self, on_round: Any = None) -> EvolTally:
        for rnd in range(1, self.cfg.rounds + 1):
            progress.status(f"evol-instruct round {rnd}/{self.cfg.rounds}")
            # at most a rewrite, an answer and a verdict per item; corrected as rewrites are eliminated
            progress.meter("requests").reset(total=3 * len(self.pool))
            ops = [self.rng.choices(self.ops, self.weights)[0] for _ in self.pool]
            for i in range(0, len(self.pool), BATCH):
                live = [
                    (it, op)
                    for it, op in zip(self.pool[i : i + BATCH], ops[i : i + BATCH], strict=True)
                    if not it.stopped
                ]
                if live:
                    self.evolve(rnd, [it for it, _ in live], [op for _, op in live])
            if on_round:
                on_round(rnd)
        return self.tally

    def evolve(self, rnd: int, items: list[PoolItem], ops: list[str]) -> None:
        """One round for a batch of pool items: rewrite, answer, judge, eliminate, write, update the pool."""
        cfg, t = self.cfg, self.teacher
        rewrites = [
            Teacher.request(self.templates[op], cfg.sampling, sample_index=rnd, instruction=it.text)
            for it, op in zip(items, ops, strict=True)
        ]
        replies = t.run(rewrites)
        for it, r in zip(items, replies, strict=True):
            it.stopped = r is None  # its rewrite failed
        notes: list[list[Stripped]] = [[] for _ in replies]
        evolved = [parse_rewrite(r.text, n) if r else "" for r, n in zip(replies, notes, strict=True)]
        early = [  # eliminated before it is answered or judged
            elimination.copies_template_words(e) or elimination.rewrite_truncated(r.finish_reason)
            if r is not None
            else None
            for e, r in zip(evolved, replies, strict=True)
        ]
        follow: list[int] = [k for k, e in enumerate(evolved) if e and not early[k]]
        progress.meter("requests").add_total(-2 * (len(items) - len(follow)))  # neither answered nor judged
        extra: list[Request] = []
        for k in follow:
            extra.append(Teacher.request(self.t_answer, cfg.answer_sampling, instruction=evolved[k]))
            extra.append(
                Teacher.request(self.t_judge, cfg.judge_sampling, first=items[k].text, second=evolved[k])
            )
        got = t.run(extra)
        extra[1::2], got[1::2], cut = t.retry_cut(extra[1::2], got[1::2], EQUAL)  # verdicts cut short
        judge_cut = dict(zip(follow, cut, strict=True))
        for n, k in enumerate(follow):  # its answer or its judge failed
            items[k].stopped = got[2 * n] is None or got[2 * n + 1] is None
        extra_results = {
            k: (extra[2 * n], got[2 * n], extra[2 * n + 1], got[2 * n + 1]) for n, k in enumerate(follow)
        }
        out: list[NewRecord] = []
        made: list[PoolItem] = []
        for k, (it, op, req, res) in enumerate(zip(items, ops, rewrites, replies, strict=True)):
            if res is None or it.stopped:
                continue
            made.append(it)
            key = t.key(req)
            uid = make_uid(METHOD, it.uid, rnd, op, key)
            fields: dict[str, Any] = {
                **record_fields(t, self.templates[op], req, res),
                "method": METHOD,
                "parent_id": it.record_id,
                "operation": op,
                "round": rnd,
                "instruction": evolved[k],
            }
            meta: dict[str, Any] = {"parent_instruction": it.text, **_stripped("stripped", notes[k])}
            if notes[k]:
                fields["raw"] = res.text  # the reply the instruction was taken from
            self.tally.by_operation.attempted[op] += 1
            self.tally.by_round.attempted[str(rnd)] += 1
            if not evolved[k]:
                self.tally.parse_failed += 1
                out.append(NewRecord(uid, {**fields, "status": PARSE_FAILED, "raw": res.text, "meta": meta}))
                continue
            reason = early[k]
            details: dict[str, Any] = {}
            if k in extra_results:
                a_req, a_res, j_req, j_res = extra_results[k]
                assert a_res is not None and j_res is not None
                equal = None if judge_cut[k] else parse_equal(j_res.text)
                answer_notes: list[Stripped] = []
                fields["output"] = parse_answer(a_res.text, answer_notes)
                fields["cost_usd"] = res.cost_usd + a_res.cost_usd + j_res.cost_usd
                meta.update(answer_request=t.key(a_req), judge_request=t.key(j_req), judge_reply=j_res.text)
                used = [(self.templates[op], req.params), (self.t_answer, a_req.params)]
                meta = provenance(t, [*used, (self.t_judge, j_req.params)], meta)
                meta.update(_stripped("answer_stripped", answer_notes))
                if a_res.finish_reason == "length":  # the heuristics filter fails it as "truncated"
                    meta["truncated"] = True
                judged = "judge_truncated" if judge_cut[k] else elimination.judged_equal(equal)
                reason = judged or elimination.answer_problem(fields["output"], cfg.min_answer_words)
                details = {"judge_reply": j_res.text.strip()[:200]}
            fields["meta"] = meta
            verdict = VerdictRow(ELIMINATION, reason is None, reason or "ok", None, details)
            out.append(NewRecord(uid, fields, [verdict], rejected=reason is not None))
            if reason:
                self.tally.eliminated[reason] += 1
            else:
                self.tally.by_operation.passed[op] += 1
                self.tally.by_round.passed[str(rnd)] += 1
        ids, new = self.write(out)
        progress.meter("records").advance(len(out))
        self.tally.records += len(out)
        self.tally.inserted += new
        for it, rec in zip(made, out, strict=True):
            if not rec.rejected and rec.fields.get("status") != PARSE_FAILED:
                it.record_id, it.uid, it.text = ids[rec.uid], rec.uid, rec.fields["instruction"]


def _stripped(key: str, notes: list[Stripped]) -> dict[str, Any]:
    """What was taken off a reply (kind and text, each text capped at 300 characters), under ``key``."""
    return {key: [{"kind": n.kind, "text": n.text[:300]} for n in notes]} if notes else {}


def run_evol(
    store: Store,
    cfg: EvolConfig,
    parent_run: int | None = None,
    provider: Provider | None = None,
) -> StageResult:
    """Run Evol-Instruct under a ``generate`` run; returns the summary with pass rates per operation and round."""
    from datagen.generation.summary import summarize

    pool = load_sources(store, cfg.source, cfg.limit)  # nothing to evolve: an input error, before any run row
    config = {"method": METHOD, **resolved(cfg)}
    with Teacher(store, cfg, provider) as teacher, tracked_run(store, "generate", config, parent_run) as run:
        evol = Evol(store, cfg, pool, teacher.attach(run))
        progress.meter("requests")  # the round's (first: the heartbeat's rate and ETA are the round's)
        progress.meter("records", total=cfg.rounds * len(pool))
        evol.run()
        t = evol.tally
        passed = sum(t.by_round.passed.values())
        run.counters.update(
            {
                "method": METHOD,
                "pool": len(pool),
                "rounds": cfg.rounds,
                "evolutions": sum(t.by_round.attempted.values()),
                "survived_elimination": passed,
                "generated": passed,
                "eliminated": dict(t.eliminated),
                "parse_failed": t.parse_failed,
                "records": t.records,
                "records_inserted": t.inserted,
                "pass_rate_by_operation": t.by_operation.table(),
                "pass_rate_by_round": t.by_round.table(),
            }
        )
        if stopped := sum(it.stopped for it in pool):  # a failed request stopped them: a rerun goes on
            run.counters["stopped_items"] = stopped
        run.save_counters()
    return StageResult(run.id, summarize(run.id, run.counters, kept=passed))
