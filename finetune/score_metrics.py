"""Base and tuned side by side on every metric, overall and per task type, with paired bootstrap intervals.

``compare_metrics`` takes what both models produced on the same items (answer NLLs, answers, hit-the-limit
flags) and returns one ``MetricResult`` per metric: the overall ``Paired`` statistic (``finetune.paired``) and
one per task type. ``score_rows`` turns them into ``scores`` rows: ``base_value``/``tuned_value`` are the
metric, ``ci_low``/``ci_high`` the tuned value's 95% interval (as for every score row), and ``details`` hold
the difference tuned - base with its interval, the base interval, the per-type results and the per-item
values (so later comparisons on the same eval set can pair items again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finetune.evalset import EvalItem
from finetune.paired import Paired, bootstrap_mean, bootstrap_perplexity
from finetune.refmetrics import per_item

# metric -> (what it measures, whether higher is better)
METRICS: dict[str, tuple[str, bool]] = {
    "perplexity": ("perplexity of the reference answer (token-weighted)", False),
    "rouge_l": ("ROUGE-L F1 of the answer against the reference", True),
    "embedding_similarity": ("cosine of answer and reference embeddings", True),
    "exact_match": ("answer equals the reference (case, spacing, edge punctuation ignored)", True),
    "accuracy": ("classification: the label the answer names is the reference", True),
    "hit_max_new_tokens": ("share of answers cut by max_new_tokens (the stop check)", False),
}
QUALITY = ("perplexity", "rouge_l", "embedding_similarity", "exact_match", "accuracy")


@dataclass
class MetricResult:
    metric: str
    overall: Paired
    by_type: dict[str, Paired] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    base_items: list[Any] = field(default_factory=list)
    tuned_items: list[Any] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        o = self.overall
        return {
            "diff": o.diff,
            "diff_ci": list(o.diff_ci),
            "base_ci": list(o.base_ci),
            "distinguishable": o.distinguishable,
            "higher_is_better": METRICS[self.metric][1],
            "what": METRICS[self.metric][0],
            "by_type": {t: p.as_dict() for t, p in self.by_type.items()},
            "per_item": {"keys": self.keys, "base": self.base_items, "tuned": self.tuned_items},
        }


@dataclass
class Measured:
    """What one model produced on the items: per-item (answer NLL, tokens), answers, hit-the-limit flags."""

    nll: list[tuple[float, int]]
    answers: list[str]
    hits: list[bool]


def compare_metrics(
    items: list[EvalItem], base: Measured, tuned: Measured, encoder: Any, rounds: int, seed: int
) -> dict[str, MetricResult]:
    """Every metric for base and tuned on ``items`` (see the module docstring); ``accuracy`` only when some
    items have labels."""
    refs = [i.reference for i in items]
    labels = [i.labels for i in items]
    vals = {
        "base": per_item(base.answers, refs, labels, encoder),
        "tuned": per_item(tuned.answers, refs, labels, encoder),
    }
    for side, m in (("base", base), ("tuned", tuned)):
        vals[side]["hit_max_new_tokens"] = [float(h) for h in m.hits]
    types = sorted({i.task_type for i in items})
    out: dict[str, MetricResult] = {}

    def group(ix: list[int], metric: str) -> Paired | None:
        if metric == "perplexity":
            return bootstrap_perplexity([base.nll[i] for i in ix], [tuned.nll[i] for i in ix], rounds, seed)
        b, t = vals["base"][metric], vals["tuned"][metric]
        keep = [i for i in ix if b[i] is not None]
        return bootstrap_mean([b[i] for i in keep], [t[i] for i in keep], rounds, seed)  # type: ignore[misc]

    everything = list(range(len(items)))
    for metric in METRICS:
        overall = group(everything, metric)
        if overall is None:
            continue
        res = MetricResult(metric, overall, keys=[i.key for i in items])
        for t in types:
            p = group([k for k, i in enumerate(items) if i.task_type == t], metric)
            if p is not None:
                res.by_type[t] = p
        if metric == "perplexity":
            res.base_items, res.tuned_items = [list(x) for x in base.nll], [list(x) for x in tuned.nll]
        else:
            res.base_items, res.tuned_items = vals["base"][metric], vals["tuned"][metric]
        out[metric] = res
    return out


def verdict(results: dict[str, MetricResult], n: int) -> str:
    """One sentence: which tuned-minus-base differences are distinguishable from noise."""
    quality = [m for m in QUALITY if m in results]
    clear = [m for m in quality if results[m].overall.distinguishable]
    if not clear:
        return (
            f"On these {n} items no difference between tuned and base is distinguishable from noise: every 95% "
            "interval of tuned - base includes 0."
        )

    def say(m: str) -> str:
        o, better = results[m].overall, METRICS[m][1]
        word = "better" if (o.diff > 0) == better else "worse"
        return f"{m} ({word}: {o.diff:+.3f}, 95% interval {o.diff_ci[0]:+.3f} to {o.diff_ci[1]:+.3f})"

    rest = [m for m in quality if m not in clear]
    tail = f"; the others ({', '.join(rest)}) are within noise" if rest else ""
    return f"On these {n} items tuned differs from base beyond noise on {', '.join(say(m) for m in clear)}{tail}."
