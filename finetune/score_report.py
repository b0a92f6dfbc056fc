"""The scores part of ``report.md``: the eval set, every metric for base and tuned with intervals, per task
type, the judge's sanity check, a few answers side by side, and whether the difference is more than noise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datagen.store.models import EvalSet, Score
from finetune.score_metrics import METRICS, QUALITY

EXAMPLES = 3
CLIP = 300


def _f(v: float | None, digits: int = 3, sign: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def _ci(ci: list[float] | tuple[float, float] | None, sign: bool = True) -> str:
    return "-" if not ci else f"{_f(ci[0], sign=sign)} to {_f(ci[1], sign=sign)}"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= CLIP else text[: CLIP - 1] + "…"


def plot_metrics(rows: list[Score], path: Path) -> Path:
    """One panel per metric: base and tuned with their 95% intervals."""
    from finetune.report import _pyplot

    plt = _pyplot()
    shown = [r for r in rows if r.metric in METRICS and r.base_value is not None]
    fig, axes = plt.subplots(1, max(1, len(shown)), figsize=(2.2 * max(1, len(shown)), 3.0), dpi=100)
    axes = axes if len(shown) > 1 else [axes]
    for ax, r in zip(axes, shown, strict=False):
        vals = [r.base_value or 0.0, r.tuned_value or 0.0]
        cis = [r.details.get("base_ci") or vals[:1] * 2, [r.ci_low, r.ci_high]]
        err = [[max(0.0, v - (c[0] if c[0] is not None else v)) for v, c in zip(vals, cis, strict=True)],
               [max(0.0, (c[1] if c[1] is not None else v) - v) for v, c in zip(vals, cis, strict=True)]]  # fmt: skip
        ax.bar(["base", "tuned"], vals, yerr=err, capsize=6, color=["#999999", "#3070b0"])
        arrow = "higher" if METRICS[r.metric][1] else "lower"
        ax.set_title(f"{r.metric}\n({arrow} is better)", fontsize=8)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _eval_lines(info: dict[str, Any], es: EvalSet | None) -> list[str]:
    ov = info.get("overlap") or {}
    lines = [
        "## Evaluation set",
        "",
        f"- **{info.get('name') or (es.name if es else '?')}** (`{info.get('source')}`), "
        f"sha256 `{(info.get('hash') or (es.content_hash if es else ''))[:16]}`, {info.get('size')} items",
        f"- overlap with the training data (prompt embedding cosine >= {ov.get('threshold')} with "
        f"{ov.get('model')}, or the same text): {ov.get('overlapping', 0)} of {ov.get('checked', 0)} items "
        f"against {ov.get('training_records', 0)} training records",
    ]
    if ov.get("overlapping"):
        if info.get("decontaminated"):
            lines.append(
                f"- decontaminated: the {ov['overlapping']} overlapping items were dropped before scoring"
            )
        else:
            lines.append(
                "- **not decontaminated**: overlapping items were scored (rerun with `--decontaminate`)"
            )
        for m in ov.get("matches", [])[:5]:
            lines.append(f"  - `{m['key']}` ~ record {m['record_id']} ({m['match']}, cosine {m['cosine']})")
    lines += [f"- scored: {info.get('scored')} items", ""]
    return lines


def _metric_lines(rows: list[Score], n: int) -> list[str]:
    lines = [
        f"## Reference metrics, base vs tuned ({n} items)",
        "",
        "| metric | base | tuned | tuned − base | 95% interval of the difference | n |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        d = r.details
        lines.append(
            f"| {r.metric} | {_f(r.base_value)} | {_f(r.tuned_value)} | {_f(d.get('diff'), sign=True)} | "
            f"{_ci(d.get('diff_ci'))}{' (beyond noise)' if d.get('distinguishable') else ''} | {r.n} |"
        )
    what = "; ".join(f"{r.metric}: {r.details.get('what')}" for r in rows)
    lines += ["", f"What they measure: {what}.", "", f"Intervals: {rows[0].details.get('ci_method')}.", ""]
    return lines


def _type_lines(rows: list[Score]) -> list[str]:
    by = {r.metric: r.details.get("by_type", {}) for r in rows if r.metric in QUALITY}
    types = sorted({t for v in by.values() for t in v})
    if not types:
        return []
    metrics = [m for m in QUALITY if m in by]
    lines = [
        "## Per task type",
        "",
        "Each cell: base → tuned (tuned − base, 95% interval).",
        "",
        "| task type | n | " + " | ".join(metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    for t in types:
        cells, n = [], 0
        for m in metrics:
            p = by[m].get(t)
            if p is None:
                cells.append("-")
                continue
            n = max(n, p["n"])
            cells.append(
                f"{_f(p['base'], 2)} → {_f(p['tuned'], 2)} ({_f(p['diff'], 2, True)}, {_ci(p['diff_ci'])})"
            )
        lines.append(f"| {t} | {n} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _judge_lines(check: Score | None, win: Score | None) -> list[str]:
    if check is None:
        return ["## Judge", "", "No judge was run (`--no-use-judge`).", ""]
    d = check.details
    lines = [
        "## Judge",
        "",
        f"Sanity check of `{d.get('judge')}` on {d.get('pairs')} clear-cut pairs (each item's reference vs "
        f"another item's reference, both orders): it preferred the reference in {d.get('agreement', 0):.0%} of "
        f"judgments (needs {d.get('min_agreement', 0):.0%}); its choice survived swapping positions in "
        f"{d.get('consistency', 0):.0%} of pairs (needs {d.get('min_consistency', 0):.0%}); it picked A in "
        f"{d.get('position_a_share', 0):.0%} of judgments.",
        "",
    ]
    if not d.get("usable"):
        reasons = "; ".join(d.get("reasons") or [])
        return [*lines, f"**The judge is unusable** ({reasons}), so no judged win-rate is reported.", ""]
    if win is not None:
        w = win.details
        lines += [
            f"Judged win-rate of tuned over base: {_f(win.tuned_value)} (95% interval {_f(win.ci_low)} – "
            f"{_f(win.ci_high)}; {w.get('wins')} wins, {w.get('losses')} losses, {w.get('ties')} ties; "
            f"{w.get('method')}).",
            "",
        ]
    return lines


def _example_lines(answers: list[dict[str, Any]]) -> list[str]:
    picked, seen = [], set()
    for a in answers:
        if a["task_type"] not in seen:
            picked.append(a)
            seen.add(a["task_type"])
        if len(picked) == EXAMPLES:
            break
    lines = ["## Example answers", ""]
    for a in picked:
        lines += [
            f"**{a['key']}** ({a['task_type']}): {_clip(a['prompt'])}",
            "",
            f"- reference: {_clip(a['reference'])}",
            f"- base: {_clip(a['base']) or '(empty)'}",
            f"- tuned: {_clip(a['tuned']) or '(empty)'}",
            "",
        ]
    return lines


def score_section(
    scores: list[Score], eval_info: dict[str, Any], es: EvalSet | None, verdict: str, out_dir: Path
) -> list[str]:
    """The report's lines about one score run."""
    metric_rows = [r for r in scores if r.metric in METRICS]
    by = {r.metric: r for r in scores}
    lines = _eval_lines(eval_info, es)
    if metric_rows:
        n = (by["rouge_l"].n if "rouge_l" in by else metric_rows[0].n) or 0
        lines += [f"**{verdict}**", ""] if verdict else []
        lines += _metric_lines(metric_rows, n)
        chart = plot_metrics(metric_rows, out_dir / "scores.png")
        lines += [f"![scores]({chart.name})", ""]
        lines += _type_lines(metric_rows)
    lines += _judge_lines(by.get("judge_check"), by.get("win_rate"))
    hit = by.get("hit_max_new_tokens")
    if hit is not None and hit.details.get("answers"):
        lines += _example_lines(hit.details["answers"])
    return lines
