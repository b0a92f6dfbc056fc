"""Self-Instruct as published (Wang et al. 2022, ``bootstrap_instructions.py`` and ``generate_instances.py``).

Each step sends ``prompts_per_step`` prompts; each shows 8 tasks (2 from the machine pool once it has any, the
rest from the seeds, shuffled) as a numbered list and asks for more. The reply is parsed proof against chat
teachers (``parsing.py``: preambles, markdown, sign-offs and run-ons are taken off, never accepted). Every
instruction parsed from a reply goes through the published rules (``datagen.selfinstruct_rules``: length,
non-text words (``blacklist``: Self-Instruct's 13 or Alpaca's 18), "Write a program" in any casing, leading
punctuation or non-ASCII, all judged after ``capitalize()``; a reply cut by the length limit loses all its
tasks or, with ``truncated_reply: alpaca``, its last one) and the novelty filter (ROUGE-L F1 > 0.7 against
any seed or accepted instruction; the record keeps the most similar instructions and the
``avg_similarity_score``). Accepted tasks are identified as classification or not by asking the teacher, then
get instances: input-first for ordinary tasks, output-first (class label first) for classification;
instances are cleaned with ``datagen.selfinstruct_rules.clean_instances`` (a task whose non-empty input has
two different outputs loses all its instances; a seeded random 5 are kept).

Every candidate becomes a record: accepted instances with status ``generated``; rejected instructions with a
``self_instruct_rules`` verdict and status ``filtered_out``; unparseable replies with status ``parse_failed``
and the raw text. A record made from a reply that had something taken off keeps that reply in ``raw`` and
the pieces in ``meta["stripped"]`` (task list) / ``meta["instances_stripped"]`` (instance reply). The run is
deterministic given the seed and the cached replies, so a rerun replays.

A request that fails after its retries does not stop the run: the step goes on with what arrived (a failed
task list adds no task; a task whose classification or instance request failed waits), later steps are built
from that, and the run ends ``partial``. A rerun defers those requests where they stand (``Teacher``:
``defer_failed``), so it builds the same steps from the cache, and sends them at its end: the task lists in step
order, screened against everything accepted (stopping at one that fails again, since the ones after it depend
on it), then the waiting tasks. Instances of those are sampled with a random generator of their own (seeded by
the run's seed and the request), so they do not depend on when the answer came.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from datagen import progress, prompts
from datagen.config import resolved
from datagen.generation.chatter import Stripped
from datagen.generation.config import SelfInstructConfig
from datagen.generation.parsing import (
    parse_instances_input_first,
    parse_instances_output_first,
    parse_task_list,
    parse_yes_no,
)
from datagen.generation.pool import NewRecord, SeedTask, VerdictRow, load_seeds, make_uid, write_records
from datagen.generation.si_tally import SelfInstructTally
from datagen.generation.teacher import Teacher, provenance, record_fields, whole_answer
from datagen.providers.base import Provider, Request, Result
from datagen.rouge import NoveltyIndex
from datagen.selfinstruct_rules import clean_instances, first_upper, instruction_problem, non_text_word
from datagen.stage import StageResult
from datagen.store.engine import Store
from datagen.store.models import PARSE_FAILED
from datagen.store.runs import tracked_run

YES_NO = whole_answer("yes", "no")  # a classification answer cut by the length limit that still holds one
RULES = "self_instruct_rules"  # verdict filter name for the instruction rules and the novelty filter
INSTANCES = "self_instruct_instances"  # verdict filter name for a task left with no valid instance
METHOD = "self_instruct"


@dataclass
class Task:
    """An accepted instruction waiting for its classification answer and instances."""

    instruction: str
    gen_key: str
    index: int
    share_usd: float
    meta: dict[str, Any]
    is_classification: bool | None = None
    clf_result: Result | None = None
    waiting: str | None = None  # the key of a request that failed or was deferred (the task waits for it)


def prompt_tasks(
    rng: random.Random, seeds: list[str], machine: list[str], cfg: SelfInstructConfig
) -> list[str]:
    """The tasks one prompt shows: up to ``prompt_machine_tasks`` machine ones, the rest seeds, shuffled."""
    chosen = rng.sample(machine, min(cfg.prompt_machine_tasks, len(machine)))
    chosen += rng.sample(seeds, min(cfg.prompt_tasks - len(chosen), len(seeds)))
    rng.shuffle(chosen)
    return [" ".join(t.split()).rstrip(":") for t in chosen]


class SelfInstruct:
    """One Self-Instruct run: the pools, the novelty index and the step loop."""

    def __init__(
        self, store: Store, cfg: SelfInstructConfig, seeds: list[SeedTask], teacher: Teacher
    ) -> None:
        self.store, self.cfg, self.teacher = store, cfg, teacher
        self.run_id = teacher.run_handle.id
        self.rng = random.Random(cfg.seed)
        self.seeds = [s.instruction for s in seeds]
        self.machine: list[str] = []
        self.index = NoveltyIndex(cfg.rouge_threshold, cfg.top_similar)
        for s in seeds:
            self.index.add(f"seed:{s.record_id}", s.instruction)
        folder = cfg.templates_dir
        self.t_tasks = prompts.load("self_instruct/generate_tasks", folder)
        self.t_clf = prompts.load("self_instruct/is_classification", folder)
        self.t_in = prompts.load("self_instruct/instances_input_first", folder)
        self.t_out = prompts.load("self_instruct/instances_output_first", folder)
        self.tally = SelfInstructTally()
        self.late_lists: list[Request] = []  # task lists whose request failed or was deferred
        self.late_tasks: list[Task] = []  # accepted tasks waiting for a failed or deferred request

    def max_steps(self) -> int:
        return self.cfg.max_steps or 2 + 3 * math.ceil(self.cfg.n / self.cfg.prompts_per_step)

    def why_stopped(self) -> str:
        accepted, n = len(self.machine), self.cfg.n
        if accepted >= n:
            return f"reached n={n} with {accepted} (the whole last step is kept, as in the paper)"
        return (
            f"max_steps={self.max_steps()} reached with {accepted} of n={n} accepted: raise --max-steps, or use a "
            "stronger teacher (most candidates were rejected)"
        )

    def write(self, out: list[NewRecord]) -> tuple[dict[str, int], int]:
        """Store a step's records (uid -> id, how many were new); ``--estimate`` runs a step without it."""
        return write_records(self.store, self.run_id, out)

    def run(self, on_step: Any = None) -> SelfInstructTally:
        while len(self.machine) < self.cfg.n and self.tally.steps < self.max_steps():
            self.step()
            if on_step:
                on_step(self)
        self.late()
        return self.tally

    def step(self) -> None:
        cfg, k = self.cfg, self.tally.steps
        progress.status(f"self-instruct step {k + 1}")
        requests = [
            Teacher.request(
                self.t_tasks,
                cfg.sampling,
                sample_index=k * cfg.prompts_per_step + j,
                tasks=prompt_tasks(self.rng, self.seeds, self.machine, cfg),
            )
            for j in range(cfg.prompts_per_step)
        ]
        out: list[NewRecord] = []
        tasks: list[Task] = []
        for req, res in zip(requests, self.teacher.run(requests), strict=True):
            if res is None:  # failed (or deferred): the step goes on without it
                self.late_lists.append(req)
                continue
            tasks += self.screen(req, res, out)
        out += self.follow_up(tasks)
        self.tally.steps += 1
        self.store_step(out)

    def late(self) -> None:
        """Requests deferred because they failed in an earlier run, sent now (see the module docstring)."""
        deferred = self.teacher.deferred
        lists = [r for r in self.late_lists if self.teacher.key(r) in deferred]
        tasks = [t for t in self.late_tasks if t.waiting in deferred]
        if not lists and not tasks:
            return
        self.late_tasks = [t for t in self.late_tasks if t not in tasks]
        self.late_lists = [r for r in self.late_lists if r not in lists]
        out: list[NewRecord] = []
        for n, (req, res) in enumerate(zip(lists, self.teacher.run(lists, late=True), strict=True)):
            if res is None:  # failed again: the lists after it are screened against its tasks, so they wait
                self.late_lists += lists[n:]
                break
            tasks += self.screen(req, res, out)
        for t in tasks:
            t.waiting = None
        out += self.follow_up(tasks, late=True)
        self.store_step(out)

    def follow_up(self, tasks: list[Task], late: bool = False) -> list[NewRecord]:
        """Classify the tasks (those not yet classified) and get their instances: their records. A task whose
        request failed waits in ``late_tasks``."""
        cfg, out = self.cfg, []
        self.classify([t for t in tasks if t.clf_result is None], late)
        ready = [t for t in tasks if t.waiting is None]
        templates = [self.t_out if t.is_classification else self.t_in for t in ready]
        inst_requests = [
            Teacher.request(tm, cfg.instance_sampling, instruction=t.instruction)
            for t, tm in zip(ready, templates, strict=True)
        ]
        inst_results = self.teacher.run(inst_requests, late)
        for task, tm, req, res in zip(ready, templates, inst_requests, inst_results, strict=True):
            if res is None:
                task.waiting = self.teacher.key(req)
                continue
            rng = random.Random(f"{cfg.seed}:{self.teacher.key(req)}") if late else self.rng
            out += self.instances(task, tm, req, res, rng)
        self.late_tasks += [t for t in tasks if t.waiting is not None]
        return out

    def store_step(self, out: list[NewRecord]) -> None:
        _, new = self.write(out)
        self.tally.records += len(out)
        self.tally.generated += sum(
            1 for r in out if not r.rejected and r.fields.get("status") != PARSE_FAILED
        )
        self.tally.inserted += new

    def screen(self, req: Request, res: Result, out: list[NewRecord]) -> list[Task]:
        """Parse one task-list reply; reject with the published rules and the novelty filter; accept the rest."""
        key = self.teacher.key(req)
        base = record_fields(self.teacher, self.t_tasks, req, res)
        notes: list[Stripped] = []
        cands = parse_task_list(res.text, res.finish_reason, notes)
        if not cands:
            self.tally.parse_failed += 1
            fields = {**base, "method": METHOD, "instruction": "", "status": PARSE_FAILED, "raw": res.text}
            fields["meta"] = {
                "stage": "generate_tasks",
                "finish_reason": res.finish_reason,
                **_stripped(notes),
            }
            out.append(NewRecord(make_uid(METHOD, key, "parse_failed"), fields))
            return []
        share = res.cost_usd / len(cands)
        whole_reply_cut = res.finish_reason == "length" and self.cfg.truncated_reply == "self_instruct"
        accepted: list[Task] = []
        for i, cand in enumerate(cands):
            self.tally.candidates += 1
            uid = make_uid(METHOD, key, i)
            text = first_upper(cand.text)
            problem = "reply_truncated" if whole_reply_cut else None
            problem = problem or instruction_problem(text, cand.truncated, self.cfg.blacklist)
            details: dict[str, Any] = {"stage": "instruction"}
            score = None
            if problem is None:
                score, mean, similar = self.index.compare(text)
                details["most_similar"] = [{"instruction": s.text, "rouge_l": s.score} for s in similar]
                details["avg_similarity_score"] = mean
                if not self.index.is_novel(score):
                    problem = "rouge_too_similar"
            elif problem == "needs_non_text_io":
                details["word"] = non_text_word(text, self.cfg.blacklist)
            meta = {"generate_request": key, "candidate_index": i, "rouge_l_max": score, **details}
            meta.update(_stripped(notes))
            raw = {"raw": res.text} if notes else {}
            if problem:
                self.tally.rejected[problem] += 1
                fields = {
                    **base,
                    **raw,
                    "method": METHOD,
                    "instruction": text,
                    "cost_usd": share,
                    "meta": meta,
                }
                out.append(NewRecord(uid, fields, [VerdictRow(RULES, False, problem, score, details)], True))
                continue
            self.index.add(uid, text)
            self.machine.append(text)
            self.tally.accepted += 1
            accepted.append(Task(text, key, i, share, meta))
        return accepted

    def classify(self, tasks: list[Task], late: bool = False) -> None:
        """Ask the teacher whether each task is a classification task (Self-Instruct's identification step)."""
        requests = [
            Teacher.request(self.t_clf, self.cfg.classify_sampling, instruction=t.instruction) for t in tasks
        ]
        sent, results, cut = self.teacher.run_decisions(requests, YES_NO, late)
        for task, req, res, truncated in zip(tasks, sent, results, cut, strict=True):
            if res is None:
                task.waiting = self.teacher.key(req)
                continue
            task.clf_result = res
            task.is_classification = None if truncated else parse_yes_no(res.text)
            task.meta["classify_request"] = self.teacher.key(req)
            used = [(self.t_tasks, self.cfg.sampling), (self.t_clf, req.params)]
            task.meta = provenance(self.teacher, used, task.meta)
            if truncated:  # cut by the length limit twice: no decision (instances input-first)
                task.meta["classify_truncated"] = res.text
                self.tally.classify_truncated += 1
            elif task.is_classification is None:
                task.meta["classify_unparsed"] = res.text  # taken as not classification
            self.tally.classification += bool(task.is_classification)

    def instances(
        self, task: Task, template: prompts.Template, req: Request, res: Result, rng: random.Random
    ) -> list[NewRecord]:
        """Parse and clean the task's instances (a seeded sample of them, drawn with ``rng``): one record per
        kept instance."""
        clf = bool(task.is_classification)
        key = self.teacher.key(req)
        root = (METHOD, task.gen_key, task.index, key)
        notes: list[Stripped] = []
        if clf:
            pairs, truncated = parse_instances_output_first(res.text, res.finish_reason, notes)
        else:
            pairs, truncated = parse_instances_input_first(
                res.text, res.finish_reason, self.cfg.max_instances, notes
            )
        kept, dropped = clean_instances(pairs, self.cfg.max_instances, rng)
        dropped += ["truncated"] * truncated
        self.tally.instances_dropped.update(dropped)
        clf_cost = task.clf_result.cost_usd if task.clf_result else 0.0
        meta = {
            **provenance(self.teacher, [(template, req.params)], task.meta),
            "instance_request": key,
            "instances_dropped": dropped,
            "instances_parsed": len(pairs),
        }
        if notes:  # what came off the instance reply, beside what came off the task list (if anything)
            meta["instances_stripped"] = _stripped(notes)["stripped"]
        base = {
            **record_fields(self.teacher, template, req, res),
            "method": METHOD,
            "instruction": task.instruction,
            "is_classification": task.is_classification,
        }
        if notes:
            base["raw"] = res.text
        cost = (task.share_usd + clf_cost + res.cost_usd) / max(1, len(kept))  # the task's whole cost, shared
        if not pairs and not truncated:  # nothing parsed (a reply cut after its only instance did parse)
            self.tally.parse_failed += 1
            meta["stage"] = "instances"
            fields = {**base, "status": PARSE_FAILED, "raw": res.text, "cost_usd": cost, "meta": meta}
            return [NewRecord(make_uid(*root, "parse_failed"), fields)]
        if not kept:
            details = {"stage": "instances", "dropped": dropped}
            fields = {**base, "cost_usd": cost, "raw": res.text, "meta": meta}  # raw: why nothing was kept
            verdict = VerdictRow(INSTANCES, False, "no_valid_instances", None, details)
            self.tally.rejected["no_valid_instances"] += 1
            return [NewRecord(make_uid(*root, "no_instances"), fields, [verdict], True)]
        out = []
        for j, (inp, output) in enumerate(kept):
            fields = {
                **base,
                "input": inp,
                "output": output,
                "cost_usd": cost,
                "meta": {**meta, "instance_index": j},
            }
            score = task.meta.get("rouge_l_max")
            similar: dict[str, Any] = {
                k: task.meta[k] for k in ("most_similar", "avg_similarity_score") if k in task.meta
            }
            verdict = VerdictRow(RULES, True, "ok", score, similar)
            out.append(NewRecord(make_uid(*root, j), fields, [verdict]))
        return out


def run_self_instruct(
    store: Store,
    cfg: SelfInstructConfig,
    parent_run: int | None = None,
    provider: Provider | None = None,
) -> StageResult:
    """Run Self-Instruct under a ``generate`` run; returns the run's summary (see ``summarize``)."""
    from datagen.generation.summary import summarize

    config = {"method": METHOD, **resolved(cfg)}
    # the teacher refuses a missing key before anything is written
    with Teacher(store, cfg, provider) as teacher, tracked_run(store, "generate", config, parent_run) as run:
        seeds = load_seeds(store, cfg.seeds, run.id)
        gen = SelfInstruct(store, cfg, seeds, teacher.attach(run, defer_failed=True))
        accepted = progress.meter("instructions", cfg.n)  # requests, tokens and cost: the executor's
        gen.run(on_step=lambda g: accepted.update(done=min(len(g.machine), cfg.n)))
        run.counters.update(gen.tally.counters(METHOD, len(seeds)))
        if gen.late_lists or gen.late_tasks:  # for a rerun: what failed requests left undone
            run.counters["waiting"] = {"task_lists": len(gen.late_lists), "tasks": len(gen.late_tasks)}
        run.counters["stopped"] = gen.why_stopped()
        run.save_counters()
    return StageResult(run.id, summarize(run.id, run.counters, kept=gen.tally.accepted))


def _stripped(notes: list[Stripped]) -> dict[str, Any]:
    """What was taken off a reply (its kind and text, each text capped at 300 characters); the whole reply is
    the record's ``raw``."""
    return {"stripped": [{"kind": n.kind, "text": n.text[:300]} for n in notes]} if notes else {}
