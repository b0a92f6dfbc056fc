"""``--estimate``: run a few real requests of the run's first step and project the cost and time of it all.

The sampled requests are exactly the ones the real run sends first (same seeded choices), so they are cached
and the real run replays them at no extra cost.
"""

from __future__ import annotations

import math
from typing import Any

from datagen.config import resolved
from datagen.generation.config import EvolConfig, SelfInstructConfig
from datagen.generation.evol_instruct import Evol, load_sources
from datagen.generation.parsing import parse_rewrite
from datagen.generation.pool import load_seeds
from datagen.generation.self_instruct import SelfInstruct, prompt_tasks
from datagen.generation.teacher import Teacher
from datagen.providers.base import Provider, Result
from datagen.providers.executor import spread
from datagen.store.engine import Store
from datagen.store.runs import tracked_run


def _per_request(teacher: Teacher, n: int, done: list[Result]) -> dict[str, Any]:
    """The executor's projection for ``n`` requests from the sampled results ``done``, per request."""
    est = teacher.executor.project(n, done)
    m = max(1, est["requests"])
    return {**est, "cost_per_request": est["est_cost_usd"] / m, "seconds_per_request": est["est_seconds"] / m}


def estimate_self_instruct(
    store: Store, cfg: SelfInstructConfig, provider: Provider | None = None, sample: int = 3
) -> dict[str, Any]:
    teacher = Teacher(store, cfg, provider, direct=True)  # refuses a missing key before anything is written
    with tracked_run(
        store, "generate", {"method": "self_instruct", "estimate": True, **resolved(cfg)}
    ) as run:
        seeds = load_seeds(store, cfg.seeds, run.id)
        teacher.attach(run)
        gen = SelfInstruct(store, cfg, seeds, teacher)
        requests = [
            Teacher.request(gen.t_tasks, cfg.sampling, j, tasks=prompt_tasks(gen.rng, gen.seeds, [], cfg))
            for j in range(cfg.prompts_per_step)
        ]
        sampled = [requests[i] for i in spread(len(requests), sample)]
        done = teacher.run(sampled)
        gen_est = _per_request(teacher, len(requests), done)
        accepted = [  # the run's own screening: the published rules and the novelty filter
            t.instruction for req, res in zip(sampled, done, strict=True) for t in gen.screen(req, res, [])
        ]
        per_prompt = len(accepted) / len(sampled)
        steps = min(gen.max_steps(), math.ceil(cfg.n / max(per_prompt * cfg.prompts_per_step, 1e-9)))
        per_step = per_prompt * cfg.prompts_per_step
        tasks = min(steps * per_step, cfg.n + per_step)  # the last step may overshoot n
        follow = [Teacher.request(gen.t_clf, cfg.classify_sampling, instruction=t) for t in accepted[:1]]
        follow += [Teacher.request(gen.t_in, cfg.instance_sampling, instruction=t) for t in accepted[:1]]
        task_est = _per_request(teacher, len(follow), teacher.run(follow)) if follow else None
        per_task_cost = 2 * task_est["cost_per_request"] if task_est else 0.0
        per_task_s = 2 * task_est["seconds_per_request"] if task_est else 0.0
        gen_requests = steps * cfg.prompts_per_step
        out = {
            "method": "self_instruct",
            "run_id": run.id,
            "sampled_requests": len(sampled) + len(follow),
            "accepted_per_prompt": round(per_prompt, 2),
            "projected_steps": steps,
            "projected_requests": gen_requests + 2 * round(tasks),
            "est_cost_usd": round(gen_requests * gen_est["cost_per_request"] + tasks * per_task_cost, 6),
            "est_seconds": round(gen_requests * gen_est["seconds_per_request"] + tasks * per_task_s, 1),
            "avg_prompt_tokens": gen_est.get("avg_prompt_tokens"),
            "avg_completion_tokens": gen_est.get("avg_completion_tokens"),
            "cost_known": gen_est.get("cost_known"),
        }
        run.counters["estimate"] = out
    return out


def estimate_evol(
    store: Store, cfg: EvolConfig, provider: Provider | None = None, sample: int = 3
) -> dict[str, Any]:
    pool = load_sources(store, cfg.source, cfg.limit)
    teacher = Teacher(store, cfg, provider, direct=True)
    with tracked_run(
        store, "generate", {"method": "evol_instruct", "estimate": True, **resolved(cfg)}
    ) as run:
        evol = Evol(store, cfg, pool, teacher.attach(run))
        ops = [evol.rng.choices(evol.ops, evol.weights)[0] for _ in pool]
        rewrites = [
            Teacher.request(evol.templates[op], cfg.sampling, sample_index=1, instruction=it.text)
            for it, op in zip(pool, ops, strict=True)
        ]
        picks = spread(len(rewrites), sample)
        done = teacher.run([rewrites[i] for i in picks])
        rw = _per_request(teacher, len(rewrites), done)
        texts = [parse_rewrite(r.text) for r in done]
        follow = [Teacher.request(evol.t_answer, cfg.answer_sampling, instruction=t) for t in texts if t]
        follow += [
            Teacher.request(evol.t_judge, cfg.judge_sampling, first=pool[i].text, second=t)
            for i, t in zip(picks, texts, strict=True)
            if t
        ]
        fw = _per_request(teacher, len(follow), teacher.run(follow)) if follow else None
        evolutions = len(pool) * cfg.rounds
        per_cost = rw["cost_per_request"] + (2 * fw["cost_per_request"] if fw else 0.0)
        per_s = rw["seconds_per_request"] + (2 * fw["seconds_per_request"] if fw else 0.0)
        out = {
            "method": "evol_instruct",
            "run_id": run.id,
            "sampled_requests": len(picks) + len(follow),
            "projected_requests": 3 * evolutions,
            "est_cost_usd": round(evolutions * per_cost, 6),
            "est_seconds": round(evolutions * per_s, 1),
            "cost_known": rw.get("cost_known"),
        }
        run.counters["estimate"] = out
    return out
