"""``--estimate``: run the start of a run for real, then project the rest from what it cost and yielded.

What the estimate sends is exactly what the real run sends first (the same seeded choices, the same requests,
through the run's own code), so the real run replays it from the cache and nothing is paid twice; nothing is
written but the estimate's run row (and the seed import).

Self-Instruct: the whole first step, every task-list prompt of it (a few prompts are not enough: replies hold
4 to 7 tasks, and a reply cut by the length limit loses all of them), screened by the run's rules and novelty
filter, then the classification and instance requests of the tasks it accepts. Projected from it:

* the tasks each later step accepts: step 1's yield, falling as machine tasks pile up. A candidate is taken to
  duplicate each earlier machine task with probability ``q``, the share of pairs of step-1 candidates that
  the novelty filter calls duplicates: it is accepted with probability ``base * (1 - q) ** m`` when the pool
  holds ``m`` machine tasks, ``base`` fitted so that step 1 comes out as it did (a teacher with a small
  repertoire repeats itself, and its later steps yield less);
* steps: until ``n`` tasks are accepted or ``max_steps``, as the run stops (the last step is kept whole);
* requests: the task-list prompts of every step, plus step 1's follow-up requests per accepted task
  (classification, its retry when cut short, instances) for every projected task;
* cost and time: per step of task-list prompts and per accepted task, as step 1's (``Executor.project``).

Evol-Instruct: round 1 for a spread sample of the pool (``EVOL_SAMPLE`` items) through the run's own code.
Requests per evolution are the sample's (a rewrite eliminated before it is answered costs one request, not
three); cost per evolution is the sample's, plus from round 2 on the prompt tokens an instruction gains per
round (the sample's mean words added, passing rewrites only, at the sample's tokens per word) on each request
that carries it: the rewrite, the answer, and the judge (twice: parent and evolution).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, cast

from datagen.config import resolved
from datagen.generation.config import EvolConfig, SelfInstructConfig
from datagen.generation.evol_instruct import Evol, PoolItem, load_sources
from datagen.generation.pool import NewRecord, load_seeds
from datagen.generation.self_instruct import SelfInstruct
from datagen.generation.teacher import Teacher
from datagen.providers.base import Provider, Request, Result
from datagen.providers.pricing import cost_usd
from datagen.providers.projection import project, spread
from datagen.rouge import NoveltyIndex
from datagen.store.engine import Store
from datagen.store.runs import tracked_run

EVOL_SAMPLE = 16  # pool items evolved for real in round 1 (the run replays them)


class _Logged(Teacher):
    """A teacher that keeps every (request, result) it ran, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[tuple[Request, Result]] = []

    def run(self, requests: list[Request], late: bool = False) -> list[Result | None]:
        results = super().run(requests, late)
        self.log += [(q, r) for q, r in zip(requests, results, strict=True) if r is not None]
        return results


class _DrySelfInstruct(SelfInstruct):
    def write(self, out: list[NewRecord]) -> tuple[dict[str, int], int]:
        return {r.uid: 0 for r in out}, 0


class _DryEvol(Evol):
    def write(self, out: list[NewRecord]) -> tuple[dict[str, int], int]:
        return {r.uid: 0 for r in out}, 0


@dataclass(frozen=True)
class Screened:
    """One candidate step 1 screened for novelty: a duplicate of a seed task, of the machine task at index
    position ``duplicate_of``, or neither (accepted)."""

    seed_duplicate: bool
    duplicate_of: int | None


class _Watched:
    """The run's novelty index, watched: each candidate screened against it, in order (``Screened``)."""

    def __init__(self, index: NoveltyIndex) -> None:
        self.index = index
        self.seeds = len(index)  # the seeds come first in the index
        self.screened: list[Screened] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.index, name)

    def __len__(self) -> int:
        return len(self.index)

    def _watch(self, text: str) -> None:
        scores, over, n = self.index.scores(text), self.index.threshold, self.seeds
        seed = bool(n and scores[:n].max() > over)
        machine = not seed and len(scores) > n and scores[n:].max() > over
        self.screened.append(Screened(seed, n + int(scores[n:].argmax()) if machine else None))

    def compare(self, text: str) -> Any:
        self._watch(text)
        return self.index.compare(text)

    def check(self, text: str) -> Any:
        self._watch(text)
        return self.index.check(text)


def later_yield(screened: list[Screened]) -> float:
    """The yield of a later step relative to step 1's. A teacher that repeats itself (writes near-duplicates of
    tasks it gave before) yields less once its repertoire is partly in the pool: the chance that the next
    candidate is new is taken as Good-Turing's, the share of step 1's candidates (seed duplicates aside)
    whose group of near-duplicates has one member, over the share step 1 accepted."""
    fresh = [c for c in screened if not c.seed_duplicate]
    accepted = sum(c.duplicate_of is None for c in fresh)
    if not accepted:
        return 0.0
    repeated = len({c.duplicate_of for c in fresh if c.duplicate_of is not None})
    return (accepted - repeated) / accepted


def project_steps(accepted: int, ratio: float, n: int, max_steps: int) -> tuple[int, float]:
    """(steps, tasks accepted in all) as the run goes: step 1 accepted ``accepted``, each later step
    ``ratio`` times as many, until ``n`` or ``max_steps`` (the last step is kept whole)."""
    tasks, steps = float(accepted), 1
    while tasks < n - 1e-9 and steps < max_steps:
        if accepted * ratio <= 0:
            return max_steps, tasks
        tasks += accepted * ratio
        steps += 1
    return steps, tasks


def distinct_rewrites(
    texts: list[str], ops: list[list[str]], pass_rate: float, seed: int, sims: int = 32
) -> list[float]:
    """Rewrite requests per round, expected: pool items with the same text and operation send one request and
    share its outcome (a Self-Instruct run gives several records the same prompt). Round 1 is exact (``ops``
    are the run's own draws); later rounds average ``sims`` simulations in which each request passes with
    ``pass_rate`` (its items take a new text) or fails (they keep theirs)."""
    rng = random.Random(seed)
    totals = [0.0] * len(ops)
    for _ in range(sims):
        state: list[Any] = list(texts)
        for r, round_ops in enumerate(ops):
            groups: dict[tuple[Any, str], list[int]] = {}
            for i, op in enumerate(round_ops):
                groups.setdefault((state[i], op), []).append(i)
            totals[r] += len(groups)
            for key, members in groups.items():
                if rng.random() < pass_rate:
                    for i in members:
                        state[i] = (key, r)
    return [t / sims for t in totals]


def _unique(teacher: _Logged, log: list[tuple[Request, Result]]) -> list[Result]:
    """The results of distinct requests (a request asked twice is sent once)."""
    return list({teacher.key(q): r for q, r in log}.values())


def estimate_self_instruct(
    store: Store, cfg: SelfInstructConfig, provider: Provider | None = None
) -> dict[str, Any]:
    """Run Self-Instruct's first step without writing records and project the run (see the module docstring)."""
    config = {"method": "self_instruct", "estimate": True, **resolved(cfg)}
    # the teacher refuses a missing key before anything is written
    with _Logged(store, cfg, provider, direct=True) as teacher, tracked_run(store, "generate", config) as run:
        seeds = load_seeds(store, cfg.seeds, run.id)
        gen = _DrySelfInstruct(store, cfg, seeds, teacher.attach(run))
        watched = _Watched(gen.index)
        gen.index = cast(NoveltyIndex, watched)
        gen.step()  # step 1 exactly as the run sends it
        lists = _unique(teacher, teacher.log[: cfg.prompts_per_step])  # the step's first call: task lists
        follow = _unique(teacher, teacher.log[cfg.prompts_per_step :])
        accepted = gen.tally.accepted
        ratio = later_yield(watched.screened)
        steps, tasks = project_steps(accepted, ratio, cfg.n, gen.max_steps())
        ex = teacher.executor
        per_step = project(ex, len(lists), lists)
        per_task = {"requests": 0.0, "est_cost_usd": 0.0, "est_seconds": 0.0}
        if accepted:
            done = project(ex, len(follow), follow)
            per_task = {k: done[k] / accepted for k in per_task}
        out = {
            "method": "self_instruct",
            "run_id": run.id,
            "sampled_requests": len(lists) + len(follow),
            "first_step_accepted": accepted,
            "later_step_yield": round(ratio, 3),
            "projected_steps": steps,
            "projected_tasks": round(tasks, 1),
            "projected_requests": round(steps * len(lists) + tasks * per_task["requests"]),
            "est_cost_usd": round(steps * per_step["est_cost_usd"] + tasks * per_task["est_cost_usd"], 6),
            "est_seconds": round(steps * per_step["est_seconds"] + tasks * per_task["est_seconds"], 1),
            "avg_prompt_tokens": per_step.get("avg_prompt_tokens"),
            "avg_completion_tokens": per_step.get("avg_completion_tokens"),
            "cost_known": per_step.get("cost_known", True),
        }
        run.counters["estimate"] = out
    return out


def estimate_evol(
    store: Store, cfg: EvolConfig, provider: Provider | None = None, sample: int = EVOL_SAMPLE
) -> dict[str, Any]:
    """Evolve a spread sample of round 1's distinct rewrites without writing records; project the run."""
    pool = load_sources(store, cfg.source, cfg.limit)
    config = {"method": "evol_instruct", "estimate": True, **resolved(cfg)}
    with _Logged(store, cfg, provider, direct=True) as teacher, tracked_run(store, "generate", config) as run:
        evol = _DryEvol(store, cfg, pool, teacher.attach(run))
        ops = [[evol.rng.choices(evol.ops, evol.weights)[0] for _ in pool] for _ in range(cfg.rounds)]
        first: dict[tuple[str, str], int] = {}  # round 1's distinct rewrites: (text, operation) -> first item
        for i, (it, op) in enumerate(zip(pool, ops[0], strict=True)):
            first.setdefault((it.text, op), i)
        picks = [list(first.values())[j] for j in spread(len(first), sample)]
        items = [PoolItem(pool[i].record_id, pool[i].uid, pool[i].text) for i in picks]
        parents = [it.text for it in items]
        evol.evolve(1, items, [ops[0][i] for i in picks])
        k = len(items)
        results = _unique(teacher, teacher.log)
        per_rewrite = len(results) / k
        passed = evol.tally.by_round.passed["1"] / k
        rewrites = distinct_rewrites([it.text for it in pool], ops, passed, cfg.seed)
        requests = round(sum(rewrites) * per_rewrite)
        done = project(teacher.executor, requests, results)
        # Instructions grow round by round: the words a rewrite added (0 when it failed), in tokens, on every
        # request that carries the instruction (the rewrite; the answer; the judge, parent and evolution).
        grown = sum(len(it.text.split()) - len(p.split()) for it, p in zip(items, parents, strict=True)) / k
        words = sum(len(c.split()) for q, _ in teacher.log[:k] for _, c in q.messages)
        per_word = sum(r.prompt_tokens for _, r in teacher.log[:k]) / max(1, words)
        carriers = 1 + 1.5 * (per_rewrite - 1)
        extra_tokens = sum(n * r * grown * per_word * carriers for r, n in enumerate(rewrites))
        price = None if teacher.provider.free else teacher.executor.price
        out = {
            "method": "evol_instruct",
            "run_id": run.id,
            "sampled_rewrites": k,
            "sampled_requests": len(results),
            "first_round_pass_rate": round(passed, 3),
            "requests_per_rewrite": round(per_rewrite, 3),
            "projected_rewrites": [round(n, 1) for n in rewrites],
            "words_added_per_round": round(grown, 2),
            "projected_requests": requests,
            "est_cost_usd": round(done["est_cost_usd"] + cost_usd(price, round(extra_tokens), 0), 6),
            "est_seconds": done["est_seconds"],
            "cost_known": done.get("cost_known", True),
        }
        run.counters["estimate"] = out
    return out
