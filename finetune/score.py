"""``score``: the tuned model against its base on an evaluation set, stored against both and the set.

The evaluation set (``--eval``: ``builtin``, a file, a dataset version; by default the train run's dataset's
held-out split, ``finetune.evalset``) is stored by content hash, and its overlap with the training data is
measured first (``finetune.overlap``; ``--decontaminate`` drops the overlapping items). Then base and tuned
answer every item (greedy, batched) and are compared (one ``scores`` row each, base and tuned side by side,
the difference tuned - base with a paired bootstrap 95% interval, overall and per task type;
``finetune.score_metrics``):

* ``perplexity`` — of the reference answers (assistant tokens + EOS) given the prompt, token-weighted;
* ``rouge_l``, ``embedding_similarity``, ``exact_match``, ``accuracy`` (classification items with labels)
  — the answers against the references (``finetune.refmetrics``), no judge needed;
* ``hit_max_new_tokens`` — share of greedy answers that ran into ``max_new_tokens`` (the stop check); its
  details keep every answer;
* ``judge_check`` — the judge's sanity check on clear-cut pairs (``finetune.judge_check``), and only when it
  passes ``win_rate``: pairwise judged win-rate of tuned over base, positions swapped, Wilson 95% interval
  (``finetune.stats``).

The tuned model is the **unquantized** base plus the adapter (also for QLoRA), the same pairing as
``--merge``, so base and tuned differ only by the adapter.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, TypeVar

from datagen import lm, modelhub, progress
from datagen.config import resolved
from datagen.errors import InputError
from datagen.stage import StageResult
from datagen.store.engine import Store
from datagen.store.models import Dataset, Score, TrainRun
from datagen.store.runs import tracked_run
from finetune import stats
from finetune.config import ScoreConfig
from finetune.data import Example, user_message
from finetune.evalset import EvalItem, LoadedEvalSet, from_dataset, load_eval_set, save_eval_set
from finetune.evaluate import Generated, answer_nll, generate_answers
from finetune.judge import Judge, check_judge, make_judge
from finetune.judge_check import check_judge_sanity
from finetune.overlap import measure_overlap
from finetune.paired import method
from finetune.score_metrics import Measured, MetricResult, compare_metrics, verdict

T = TypeVar("T")


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
        ds = s.get(Dataset, tr.dataset_id)
        return {
            "id": tr.id,
            "dataset_id": tr.dataset_id,
            "dataset": f"{ds.name}@{ds.version}" if ds else str(tr.dataset_id),
            "base_model": tr.base_model,
            "adapter": tr.adapter_path,
            "output_dir": tr.output_dir,
            "system_prompt": (tr.config or {}).get("system_prompt"),
        }


def pick_examples(examples: list[T], limit: int | None, seed: int) -> list[T]:
    """All examples, or a seeded sample of ``limit`` of them kept in their order."""
    if limit is None or len(examples) <= limit:
        return list(examples)
    chosen = random.Random(seed).sample(range(len(examples)), limit)
    return [examples[i] for i in sorted(chosen)]


def _measure(model: Any, tok: Any, exs: list[Example], sp: str | None, cfg: ScoreConfig) -> dict[str, Any]:
    nll = answer_nll(model, tok, exs, sp, cfg.batch_size)
    with progress.counting(progress.meter("answers")):  # batch by batch
        gen = generate_answers(model, tok, exs, sp, cfg.max_new_tokens, cfg.batch_size)
    return {"nll": nll, "gen": gen}


def judge_pairs(judge: Judge, exs: list[Example], tuned: list[Generated], base: list[Generated]) -> list[Any]:
    """Per item the two picks: tuned shown as A, then tuned shown as B."""
    items_1 = [(user_message(e), t.text, b.text) for e, t, b in zip(exs, tuned, base, strict=True)]
    items_2 = [(user_message(e), b.text, t.text) for e, t, b in zip(exs, tuned, base, strict=True)]
    return list(zip(judge.pick(items_1), judge.pick(items_2), strict=True))


def eval_set_for(store: Store, cfg: ScoreConfig, dataset_id: int) -> LoadedEvalSet:
    """The set ``cfg.eval`` names, or the train run's dataset's ``cfg.split``; validated before any work."""
    if cfg.eval is not None:
        return load_eval_set(store, cfg.eval)
    with store.session() as s:
        ds = s.get(Dataset, dataset_id)
        assert ds is not None
        ref = f"{ds.name}@{ds.version}:{cfg.split}"
    try:
        return from_dataset(store, ref)
    except InputError:
        raise InputError(
            f"dataset {ref.split(':')[0]} has no records in its {cfg.split} split to score on"
        ) from None


def _judged(
    cfg: ScoreConfig,
    store: Store,
    run: Any,
    exs: list[Example],
    base: list[Generated],
    tuned: list[Generated],
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The judge's sanity check and, when it passes, its win-rate with the picks behind it."""
    progress.status("judge: sanity check")
    judge = make_judge(cfg, store, run)
    check = check_judge_sanity(
        judge, [user_message(e) for e in exs], [e.output for e in exs],
        cfg.judge_min_agreement, cfg.judge_min_consistency, cfg.seed,
    )  # fmt: skip
    if not check.usable:
        return check.as_dict(), None
    progress.status("judge")
    with progress.counting(progress.meter("judged", 2 * len(exs))) as judged:  # each pair shown both ways
        picks = judge_pairs(judge, exs, tuned, base)
    judged.update(done=2 * len(exs))
    wr = stats.win_rate([(p1.choice, p2.choice) for p1, p2 in picks])
    soft = [
        stats.soft_preference((p1.p_a, p1.p_b), (p2.p_a, p2.p_b))
        for p1, p2 in picks
        if None not in (p1.p_a, p1.p_b, p2.p_a, p2.p_b)
    ]
    win = {
        **wr.as_dict(),
        "soft_preference_mean": sum(soft) / len(soft) if soft else None,
        "judge": judge.name,
        "template": "score/pairwise",
        "picks": [[p1.choice, p2.choice] for p1, p2 in picks],
        "outcomes": [stats.combine(p1.choice, p2.choice) for p1, p2 in picks],
    }
    return check.as_dict(), win


def _rows(
    results: dict[str, MetricResult],
    cfg: ScoreConfig,
    extra: dict[str, dict[str, Any]],
    check: dict[str, Any] | None,
    win: dict[str, Any] | None,
) -> list[Score]:
    """One ``scores`` row per metric, then the judge's check and (when it passed) its win-rate."""
    rows = []
    for metric, res in results.items():
        o = res.overall
        details = {**res.details(), "ci_method": method(cfg.bootstrap_rounds), **extra.get(metric, {})}
        rows.append(
            Score(metric=metric, base_value=o.base, tuned_value=o.tuned, ci_low=o.tuned_ci[0],
                  ci_high=o.tuned_ci[1], n=o.n, details=details)
        )  # fmt: skip
    if check is not None:
        rows.append(
            Score(metric="judge_check", tuned_value=check["agreement"], n=check["pairs"], details=check)
        )
    if win is not None:
        rows.append(
            Score(metric="win_rate", base_value=1 - win["rate"], tuned_value=win["rate"], ci_low=win["ci_low"],
                  ci_high=win["ci_high"], n=win["n"], details=win)
        )  # fmt: skip
    return rows


def _eval_items(
    store: Store, cfg: ScoreConfig, evs: LoadedEvalSet, dataset_id: int
) -> tuple[dict[str, Any], list[EvalItem]]:
    """Store the eval set, measure its overlap with the training data, and pick the items to score."""
    eval_id = save_eval_set(store, evs)
    overlap = measure_overlap(
        store, list(evs.items), dataset_id, cfg.overlap_threshold, cfg.embedder, cfg.device
    )
    items = [i for i in evs.items if not (cfg.decontaminate and i.key in overlap.keys)]
    items = pick_examples(items, cfg.max_examples, cfg.seed)
    if not items:
        raise InputError(f"no eval items left to score ({evs.size} in {evs.name}, all overlapping)")
    info = {
        "id": eval_id, "name": evs.name, "source": evs.source, "hash": evs.content_hash, "size": evs.size,
        "overlap": overlap.as_dict(), "decontaminated": cfg.decontaminate, "scored": len(items),
    }  # fmt: skip
    return info, items


# The base model's measurements depend only on the key below, so a process that scores several adapters of one
# base on one eval set (``datagen compare``) measures the base once.
_BASE_MEASURED: dict[str, dict[str, Any]] = {}


def _answer(
    cfg: ScoreConfig, tr: dict[str, Any], exs: list[Example]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Base and tuned on every example: answer NLLs of the references and greedy answers."""
    from datagen.textnorm import stable_hash
    from finetune.merge import load_base, load_tuned

    path = modelhub.resolve(tr["base_model"])
    tok = lm.load_tokenizer(tr["adapter"])
    sp = tr["system_prompt"]
    key = stable_hash(path, cfg.dtype, cfg.device, cfg.max_new_tokens, cfg.batch_size, sp, tok.chat_template,
                      [(e.instruction, e.input, e.output) for e in exs])  # fmt: skip
    answers = progress.meter("answers", 2 * len(exs))  # the base's, then the tuned model's
    if key not in _BASE_MEASURED:
        _BASE_MEASURED.clear()  # one entry: the base of the adapters being compared
        progress.status("base model")
        _BASE_MEASURED[key] = _measure(load_base(path, cfg.dtype, cfg.device), tok, exs, sp, cfg)
    else:
        answers.add_total(-len(exs))
    progress.status("tuned model")
    tuned = _measure(load_tuned(path, tr["adapter"], cfg.dtype, cfg.device), tok, exs, sp, cfg)
    return _BASE_MEASURED[key], tuned


def _summary(results: dict[str, MetricResult]) -> dict[str, Any]:
    return {
        m: {"base": r.overall.base, "tuned": r.overall.tuned, "ci_low": r.overall.tuned_ci[0],
            "ci_high": r.overall.tuned_ci[1], "diff": r.overall.diff, "diff_ci": list(r.overall.diff_ci),
            "distinguishable": r.overall.distinguishable}
        for m, r in results.items()
    }  # fmt: skip


def _extra(cfg: ScoreConfig, results: dict[str, MetricResult], base: Any, tuned: Any, answers: Any) -> Any:
    """What the perplexity and stop-check rows keep besides the common details."""
    ppl = results["perplexity"].overall if "perplexity" in results else None
    return {
        "perplexity": {
            "answer_tokens": sum(n for _, n in base["nll"]),
            "dtype": cfg.dtype,
            "ratio_tuned_over_base": (ppl.tuned / ppl.base) if ppl and ppl.base else None,
            "ratio_ci": list(stats.bootstrap_perplexity(base["nll"], tuned["nll"], seed=cfg.seed)["ratio"]),
        },
        "hit_max_new_tokens": {"max_new_tokens": cfg.max_new_tokens, "answers": answers},
    }


def score(store: Store, cfg: ScoreConfig, parent_run_id: int | None = None) -> dict[str, Any]:
    """Score a succeeded train run; returns the metrics (also stored as ``scores`` rows) and the report path."""
    from filters.dedup_index import embedder

    tr = _train_run(store, cfg.train_run)
    if cfg.use_judge:
        check_judge(cfg)
    evs = eval_set_for(store, cfg, tr["dataset_id"])
    with tracked_run(store, "score", resolved(cfg), parent_run_id) as run:
        info, items = _eval_items(store, cfg, evs, tr["dataset_id"])
        exs = [it.example(k) for k, it in enumerate(items)]
        base, tuned = _answer(cfg, tr, exs)
        measured = [Measured(m["nll"], [g.text for g in m["gen"]], [g.hit_limit for g in m["gen"]])
                    for m in (base, tuned)]  # fmt: skip
        results = compare_metrics(
            items,
            measured[0],
            measured[1],
            embedder(cfg.embedder, device=cfg.device),
            cfg.bootstrap_rounds,
            cfg.seed,
        )
        check, win = (
            _judged(cfg, store, run, exs, base["gen"], tuned["gen"]) if cfg.use_judge else (None, None)
        )
        answers = [
            {"key": i.key, "task_type": i.task_type, "prompt": user_message(e), "reference": i.reference,
             "base": b.text, "tuned": t.text}
            for i, e, b, t in zip(items, exs, base["gen"], tuned["gen"], strict=True)
        ]  # fmt: skip
        rows = _rows(results, cfg, _extra(cfg, results, base, tuned, answers), check, win)
        with store.session() as s:
            for r in rows:
                r.train_run_id, r.dataset_id, r.eval_set_id, r.run_id = (
                    tr["id"],
                    tr["dataset_id"],
                    info["id"],
                    run.id,
                )
            s.add_all(rows)
        result: dict[str, Any] = {
            "run_id": run.id,
            "train_run": tr["id"],
            "dataset": tr["dataset"],
            "eval": info,
            "n": len(items),
            "scores": _summary(results),
            "by_type": {m: {t: p.as_dict() for t, p in r.by_type.items()} for m, r in results.items()},
            "judge_check": check,
            "win_rate": None
            if win is None
            else {k: v for k, v in win.items() if k not in ("picks", "outcomes")},
            "verdict": verdict(results, len(items)),
            "method": method(cfg.bootstrap_rounds),
        }
        run.counters.update(
            train_run=tr["id"], eval_set=info["id"], n=len(items), overlapping=info["overlap"]["overlapping"],
            eval=info, verdict=result["verdict"],
        )  # fmt: skip
        run.save_counters()
        if cfg.report and tr["output_dir"]:
            from finetune.report import write_report

            result["report"] = str(write_report(store, tr["id"], Path(tr["output_dir"]) / "report.md"))
    return result


def run_score(store: Store, cfg: ScoreConfig, parent_run: int | None = None) -> StageResult:
    """The score stage: ``score``'s metrics as the summary, the report (when written) as an output."""
    summary = score(store, cfg, parent_run)
    outputs = {"report": str(summary["report"])} if summary.get("report") else {}
    return StageResult(summary["run_id"], summary, outputs)
