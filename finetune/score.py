"""``score``: the tuned model against its base on a dataset's held-out split, stored against both.

Metrics (one ``scores`` row each, base and tuned side by side):

* ``perplexity`` — of the reference answers (assistant tokens + EOS) given the prompt, token-weighted;
* ``win_rate`` — pairwise judged win-rate of tuned over base, positions swapped, Wilson 95% interval
  (``finetune.stats`` states the method);
* ``hit_max_new_tokens`` — share of greedy answers that ran into ``max_new_tokens`` (the stop check).

The tuned model is the **unquantized** base plus the adapter (also for QLoRA), the same pairing as
``--merge``, so base and tuned differ only by the adapter.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from datagen import lm, modelhub
from datagen.config import resolved
from datagen.errors import InputError
from datagen.stage import StageResult
from datagen.store.engine import Store
from datagen.store.models import Score, TrainRun
from datagen.store.runs import tracked_run
from finetune import stats
from finetune.config import ScoreConfig
from finetune.data import Example, load_dataset_by_id, user_message
from finetune.evaluate import Generated, answer_nll, generate_answers
from finetune.judge import Judge, check_judge, make_judge


def _train_run(store: Store, tr_id: int) -> dict[str, Any]:
    with store.session() as s:
        tr = s.get(TrainRun, tr_id)
        if tr is None:
            raise InputError(f"train run {tr_id} not found (see `datagen runs`)")
        if tr.status != "succeeded" or not tr.adapter_path or not Path(tr.adapter_path).exists():
            raise InputError(
                f"train run {tr_id} has no trained adapter (status {tr.status}"
                + (f", {tr.adapter_path} is missing)" if tr.adapter_path else ", none was saved)")
            )
        return {
            "id": tr.id,
            "dataset_id": tr.dataset_id,
            "base_model": tr.base_model,
            "adapter": tr.adapter_path,
            "output_dir": tr.output_dir,
            "system_prompt": (tr.config or {}).get("system_prompt"),
        }


def pick_examples(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    """All examples, or a seeded sample of ``limit`` of them kept in record order."""
    if limit is None or len(examples) <= limit:
        return list(examples)
    chosen = random.Random(seed).sample(range(len(examples)), limit)
    return [examples[i] for i in sorted(chosen)]


def _measure(model: Any, tok: Any, exs: list[Example], sp: str | None, cfg: ScoreConfig) -> dict[str, Any]:
    nll = answer_nll(model, tok, exs, sp, cfg.batch_size)
    gen = generate_answers(model, tok, exs, sp, cfg.max_new_tokens, cfg.batch_size)
    return {"nll": nll, "gen": gen}


def judge_pairs(judge: Judge, exs: list[Example], tuned: list[Generated], base: list[Generated]) -> list[Any]:
    """Per item the two picks: tuned shown as A, then tuned shown as B."""
    items_1 = [(user_message(e), t.text, b.text) for e, t, b in zip(exs, tuned, base, strict=True)]
    items_2 = [(user_message(e), b.text, t.text) for e, t, b in zip(exs, tuned, base, strict=True)]
    return list(zip(judge.pick(items_1), judge.pick(items_2), strict=True))


def score(store: Store, cfg: ScoreConfig, parent_run_id: int | None = None) -> dict[str, Any]:
    """Score a succeeded train run; returns the metrics (also stored as ``scores`` rows) and the report path."""
    from finetune.merge import load_base, load_tuned

    tr = _train_run(store, cfg.train_run)
    check_judge(cfg)
    ds = load_dataset_by_id(store, tr["dataset_id"])
    exs = pick_examples(ds.splits.get(cfg.split, []), cfg.max_examples, cfg.seed)
    if not exs:
        raise InputError(f"dataset {ds.ref} has no records in its {cfg.split} split to score on")
    with tracked_run(store, "score", resolved(cfg), parent_run_id) as run:
        path = modelhub.resolve(tr["base_model"])
        tok = lm.load_tokenizer(tr["adapter"])
        sp = tr["system_prompt"]
        base = _measure(load_base(path, cfg.dtype, cfg.device), tok, exs, sp, cfg)
        tuned = _measure(load_tuned(path, tr["adapter"], cfg.dtype, cfg.device), tok, exs, sp, cfg)
        judge = make_judge(cfg, store, run)
        picks = judge_pairs(judge, exs, tuned["gen"], base["gen"])
        wr = stats.win_rate([(p1.choice, p2.choice) for p1, p2 in picks])

        ppl_base, ppl_tuned = (
            stats.perplexity(sum(x for x, _ in m["nll"]), sum(n for _, n in m["nll"])) for m in (base, tuned)
        )

        soft = [
            stats.soft_preference((p1.p_a, p1.p_b), (p2.p_a, p2.p_b))
            for p1, p2 in picks
            if None not in (p1.p_a, p1.p_b, p2.p_a, p2.p_b)
        ]
        soft_mean = sum(soft) / len(soft) if soft else None
        boot = stats.bootstrap_perplexity(base["nll"], tuned["nll"], seed=cfg.seed)
        hits = {k: [g.hit_limit for g in m["gen"]] for k, m in (("base", base), ("tuned", tuned))}
        answers = [
            {
                "record_id": e.record_id,
                "base": b.text,
                "tuned": t.text,
                "picks": [p1.choice, p2.choice],
                "p_ab": [[p1.p_a, p1.p_b], [p2.p_a, p2.p_b]],
                "outcome": stats.combine(p1.choice, p2.choice),
            }
            for e, b, t, (p1, p2) in zip(exs, base["gen"], tuned["gen"], picks, strict=True)
        ]
        common = {"train_run_id": tr["id"], "dataset_id": ds.id, "run_id": run.id, "n": len(exs)}
        rows = [
            Score(
                metric="perplexity",
                base_value=ppl_base,
                tuned_value=ppl_tuned,
                ci_low=boot["tuned"][0],
                ci_high=boot["tuned"][1],
                details={
                    "split": cfg.split,
                    "answer_tokens": sum(n for _, n in base["nll"]),
                    "dtype": cfg.dtype,
                    "base_ci": list(boot["base"]),
                    "ratio_tuned_over_base": (ppl_tuned or 0) / (ppl_base or 1),
                    "ratio_ci": list(boot["ratio"]),
                    "ci_method": "paired percentile bootstrap over items, 2000 rounds, seeded",
                },
                **common,
            ),
            Score(
                metric="win_rate",
                base_value=1 - wr.rate,
                tuned_value=wr.rate,
                ci_low=wr.ci_low,
                ci_high=wr.ci_high,
                details={
                    **wr.as_dict(),
                    "soft_preference_mean": soft_mean,
                    "judge": judge.name,
                    "template": "score/pairwise",
                    "answers": answers,
                },
                **common,
            ),
            Score(
                metric="hit_max_new_tokens",
                base_value=stats.share(hits["base"]),
                tuned_value=stats.share(hits["tuned"]),
                details={"max_new_tokens": cfg.max_new_tokens},
                **common,
            ),
        ]
        with store.session() as s:
            s.add_all(rows)
        result: dict[str, Any] = {
            "run_id": run.id,
            "train_run": tr["id"],
            "dataset": ds.ref,
            "split": cfg.split,
            "n": len(exs),
            "judge": judge.name,
            "scores": {
                r.metric: {
                    "base": r.base_value,
                    "tuned": r.tuned_value,
                    "ci_low": r.ci_low,
                    "ci_high": r.ci_high,
                }
                for r in rows
            },
            "win_rate": {k: v for k, v in wr.as_dict().items() if k != "method"},
            "soft_preference_mean": soft_mean,
            "method": stats.METHOD,
        }
        if cfg.report and tr["output_dir"]:
            from finetune.report import write_report

            result["report"] = str(write_report(store, tr["id"], Path(tr["output_dir"]) / "report.md"))
        run.counters.update(train_run=tr["id"], n=len(exs), win_rate=wr.rate)
    return result


def run_score(store: Store, cfg: ScoreConfig, parent_run: int | None = None) -> StageResult:
    """The score stage: ``score``'s metrics as the summary, the report (when written) as an output."""
    summary = score(store, cfg, parent_run)
    outputs = {"report": str(summary["report"])} if summary.get("report") else {}
    return StageResult(summary["run_id"], summary, outputs)
