"""``compare``: what curation was worth — dataset versions trained alike, scored on one eval set, compared.

Every version is trained with the same base model, seed(s), steps and token budget: the budget is
``max_train_tokens`` or the smallest version's train split, and larger versions train on a seeded subsample of
that many tokens (``finetune.budget``), so no version wins by seeing more text. Each trained adapter is scored
on the same eval set (``finetune.score``: its ``scores`` rows are stored against the train run, its dataset
version and the eval set). With ``repeats`` K every version is trained and scored K times (seeds seed,
seed+1, ...).

The comparison pairs items: per version and item, the tuned model's metric averaged over the K seeds; each
other version against the first (the reference) gets the difference of the means with a paired bootstrap 95%
interval over items (``finetune.paired``), and the spread over seeds of the per-seed differences (min, max,
standard deviation). Perplexity is token-weighted over items, from the seeds' mean answer NLL per item.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from sqlalchemy import select

from datagen import lm, modelhub
from datagen.config import resolved
from datagen.datasets.ref import split_ref
from datagen.errors import InputError
from datagen.stage import StageResult
from datagen.store.engine import Store
from datagen.store.models import Score
from datagen.store.runs import tracked_run
from finetune.config import CompareConfig, ScoreConfig, TrainConfig
from finetune.paired import Paired, bootstrap_mean, bootstrap_perplexity

COMPARED = ("perplexity", "rouge_l", "embedding_similarity", "exact_match", "accuracy", "hit_max_new_tokens")


def train_tokens(store: Store, refs: list[str], base_model: str) -> dict[str, dict[str, Any]]:
    """Per dataset reference: its id, NAME@VERSION and train-split records and tokens (as training counts them)."""
    from finetune.budget import example_tokens
    from finetune.data import load_dataset

    tok = lm.load_tokenizer(modelhub.resolve(base_model))
    out: dict[str, dict[str, Any]] = {}
    for ref in refs:
        ds = load_dataset(store, *split_ref(ref))
        if ds.ref in (v["ref"] for v in out.values()):
            raise InputError(f"dataset {ds.ref} is named twice: compare different versions")
        train = ds.splits["train"]
        if not train:
            raise InputError(f"dataset {ds.ref} has no records in its train split")
        out[ref] = {"id": ds.id, "ref": ds.ref, "records": len(train),
                    "tokens": sum(example_tokens(tok, ex) for ex in train)}  # fmt: skip
    return out


def _per_item(store: Store, score_run: int) -> dict[str, dict[str, Any]]:
    """metric -> {"keys", "base", "tuned"} per-item values of one score run."""
    with store.session() as s:
        rows = s.scalars(select(Score).where(Score.run_id == score_run, Score.metric.in_(COMPARED))).all()
        return {r.metric: r.details["per_item"] for r in rows}


def _stat(metric: str, base: list[Any], tuned: list[Any], rounds: int, seed: int) -> Paired | None:
    if metric == "perplexity":
        return bootstrap_perplexity([tuple(x) for x in base], [tuple(x) for x in tuned], rounds, seed)
    keep = [i for i, (b, t) in enumerate(zip(base, tuned, strict=True)) if b is not None and t is not None]
    return bootstrap_mean([base[i] for i in keep], [tuned[i] for i in keep], rounds, seed)


def _mean_over_seeds(metric: str, runs: list[dict[str, Any]], keys: list[str]) -> list[Any]:
    """Per item (in ``keys`` order) the tuned value averaged over the seeds' score runs."""
    out: list[Any] = []
    for k in keys:
        vals = [r["tuned"][r["keys"].index(k)] for r in runs]
        if metric == "perplexity":
            out.append((statistics.fmean(v[0] for v in vals), vals[0][1]))
        else:
            out.append(None if any(v is None for v in vals) else statistics.fmean(vals))
    return out


def aggregate(
    versions: list[str], items: dict[str, list[dict[str, dict[str, Any]]]], rounds: int, seed: int
) -> dict[str, Any]:
    """The comparison (see the module docstring) from each version's per-seed per-item values."""
    ref = versions[0]
    out: dict[str, Any] = {}
    for metric in COMPARED:
        runs = {v: [r[metric] for r in items[v] if metric in r] for v in versions}
        if not all(runs.values()):
            continue
        keys = [k for k in runs[ref][0]["keys"] if all(k in r["keys"] for v in versions for r in runs[v])]
        means = {v: _mean_over_seeds(metric, runs[v], keys) for v in versions}
        first = runs[ref][0]
        base_vals = [first["base"][first["keys"].index(k)] for k in keys]
        entry: dict[str, Any] = {"n": len(keys), "versions": {}, "vs_reference": {}}
        for v in versions:
            p = _stat(metric, base_vals, means[v], rounds, seed)
            if p is not None:
                entry["n"] = p.n  # items with a value (accuracy: the labelled ones)
                entry["versions"][v] = {"value": p.tuned, "ci": list(p.tuned_ci)}
                entry["base"] = {"value": p.base, "ci": list(p.base_ci)}
        for v in versions[1:]:
            p = _stat(metric, means[ref], means[v], rounds, seed)
            if p is None:
                continue
            per_seed = []
            for rr, rv in zip(runs[ref], runs[v], strict=False):
                q = _stat(
                    metric, _mean_over_seeds(metric, [rr], keys), _mean_over_seeds(metric, [rv], keys), 100, 0
                )
                if q is not None:
                    per_seed.append(q.diff)
            entry["vs_reference"][v] = {
                "diff": p.diff, "diff_ci": list(p.diff_ci), "distinguishable": p.distinguishable,
                "per_seed": per_seed, "seed_min": min(per_seed, default=None), "seed_max": max(per_seed, default=None),
                "seed_sd": statistics.stdev(per_seed) if len(per_seed) > 1 else None,
            }  # fmt: skip
        out[metric] = entry
    return out


def compare(store: Store, cfg: CompareConfig, parent_run_id: int | None = None) -> dict[str, Any]:
    """Train and score every version (see the module docstring); returns the comparison (also on the run)."""
    from finetune.compare_report import write_compare_report
    from finetune.evalset import load_eval_set
    from finetune.score import score
    from finetune.trainer import train

    modelhub.check_model(cfg.base_model, "base model")
    sizes = train_tokens(store, cfg.datasets, cfg.base_model)
    evs = load_eval_set(store, cfg.eval)  # a malformed file fails here, before any training
    budget = cfg.max_train_tokens or min(v["tokens"] for v in sizes.values())
    versions = [sizes[r]["ref"] for r in cfg.datasets]
    with tracked_run(store, "compare", resolved(cfg), parent_run_id) as run:
        out_dir = Path(cfg.output_root) / str(run.id)
        items: dict[str, list[dict[str, Any]]] = {v: [] for v in versions}
        runs: list[dict[str, Any]] = []
        for k in range(cfg.repeats):
            for v in versions:
                tc = TrainConfig(
                    dataset=v, base_model=cfg.base_model, method=cfg.method, max_steps=cfg.max_steps,
                    learning_rate=cfg.learning_rate, per_device_train_batch_size=cfg.batch_size,
                    effective_batch_size=cfg.batch_size, max_length=cfg.max_length, precision=cfg.precision,
                    seed=cfg.seed + k, max_train_tokens=budget, early_stopping_patience=None,
                    save_total_limit=1, output_root=str(out_dir / "train"),
                )  # fmt: skip
                tr_id = train(store, tc, run.id)
                sc = ScoreConfig(
                    train_run=tr_id, eval=cfg.eval, max_examples=cfg.max_examples,
                    max_new_tokens=cfg.max_new_tokens, batch_size=cfg.score_batch_size, dtype=cfg.dtype,
                    decontaminate=cfg.decontaminate, use_judge=cfg.use_judge,
                    bootstrap_rounds=cfg.bootstrap_rounds,
                )  # fmt: skip
                res = score(store, sc, run.id)
                items[v].append(_per_item(store, res["run_id"]))
                runs.append({"version": v, "seed": cfg.seed + k, "train_run": tr_id, "score_run": res["run_id"],
                             "overlapping": res["eval"]["overlap"]["overlapping"]})  # fmt: skip
                run.counters.update(runs=runs)
                run.save_counters()
        result: dict[str, Any] = {
            "run_id": run.id,
            "versions": versions,
            "reference": versions[0],
            "eval": {"name": evs.name, "hash": evs.content_hash, "size": evs.size},
            "budget": {
                "max_train_tokens": budget,
                "sizes": {sizes[r]["ref"]: sizes[r] for r in cfg.datasets},
            },
            "repeats": cfg.repeats,
            "seeds": [cfg.seed + k for k in range(cfg.repeats)],
            "runs": runs,
            "metrics": aggregate(versions, items, cfg.bootstrap_rounds, cfg.seed),
        }
        result["report"] = str(write_compare_report(result, out_dir / "report.md"))
        run.counters.update({k: result[k] for k in ("versions", "eval", "budget", "metrics", "report")})
    return result


def run_compare(store: Store, cfg: CompareConfig, parent_run: int | None = None) -> StageResult:
    """The compare stage: the comparison as the summary, the report as an output."""
    summary = compare(store, cfg, parent_run)
    return StageResult(summary["run_id"], summary, {"report": summary["report"]})
