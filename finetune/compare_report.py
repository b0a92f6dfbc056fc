"""The Markdown report and chart of a ``datagen compare`` run: every metric per dataset version (and the base
model) with 95% intervals, the differences to the reference version with paired intervals and the spread over
seeds, and which differences are distinguishable from noise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finetune.score_metrics import METRICS


def _f(v: float | None, sign: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:+.3f}" if sign else f"{v:.3f}"


def plot_compare(result: dict[str, Any], path: Path) -> Path:
    """One panel per metric: the base model and each version, with 95% interval bars."""
    from finetune.report import _pyplot

    plt = _pyplot()
    metrics = [m for m in result["metrics"] if result["metrics"][m]["versions"]]
    fig, axes = plt.subplots(1, max(1, len(metrics)), figsize=(2.6 * max(1, len(metrics)), 3.2), dpi=100)
    axes = axes if len(metrics) > 1 else [axes]
    for ax, m in zip(axes, metrics, strict=False):
        e = result["metrics"][m]
        names = ["base", *e["versions"]]
        rows = [e.get("base", {"value": 0.0, "ci": [0.0, 0.0]}), *e["versions"].values()]
        vals = [r["value"] for r in rows]
        err = [[max(0.0, v - r["ci"][0]) for v, r in zip(vals, rows, strict=True)],
               [max(0.0, r["ci"][1] - v) for v, r in zip(vals, rows, strict=True)]]  # fmt: skip
        ax.bar(
            range(len(names)), vals, yerr=err, capsize=5, color=["#999999"] + ["#3070b0"] * (len(names) - 1)
        )
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=7)
        ax.set_title(f"{m}\n({'higher' if METRICS[m][1] else 'lower'} is better)", fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def verdict(result: dict[str, Any]) -> str:
    """One sentence per compared version: where it differs from the reference beyond noise."""
    ref, parts = result["reference"], []
    for v in result["versions"][1:]:
        clear = []
        for m, e in result["metrics"].items():
            d = e["vs_reference"].get(v)
            if d and d["distinguishable"] and m != "hit_max_new_tokens":
                better = (d["diff"] > 0) == METRICS[m][1]
                clear.append(f"{m} {'better' if better else 'worse'} ({_f(d['diff'], True)})")
        parts.append(
            f"{v} vs {ref}: " + (", ".join(clear) if clear else "no difference distinguishable from noise")
        )
    return "; ".join(parts) + "."


def write_compare_report(result: dict[str, Any], path: Path) -> Path:
    ev, budget = result["eval"], result["budget"]
    lines = [
        f"# Compare run {result['run_id']}: {', '.join(result['versions'])}",
        "",
        f"- eval set **{ev['name']}** (sha256 `{ev['hash'][:16]}`, {ev['size']} items)",
        f"- same base model, steps and token budget: at most {budget['max_train_tokens']} training tokens per "
        "version; train splits: "
        + ", ".join(f"{r} {s['records']} records / {s['tokens']} tokens" for r, s in budget["sizes"].items()),
        f"- seeds: {', '.join(map(str, result['seeds']))} ({result['repeats']} run(s) per version); reference: "
        f"{result['reference']}",
        "",
        f"**{verdict(result)}**",
        "",
        "## Every metric per version (tuned model, mean over seeds; 95% interval over items)",
        "",
        "| metric | n | base model | " + " | ".join(result["versions"]) + " |",
        "|---|---|---|" + "---|" * len(result["versions"]),
    ]
    for m, e in result["metrics"].items():
        cells = [f"{_f(x['value'])} ({_f(x['ci'][0])}–{_f(x['ci'][1])})" for x in e["versions"].values()]
        b = e.get("base")
        base = f"{_f(b['value'])} ({_f(b['ci'][0])}–{_f(b['ci'][1])})" if b else "-"
        lines.append(f"| {m} | {e['n']} | {base} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"## Differences to {result['reference']} (paired over items; spread over seeds)",
        "",
        "| version | metric | difference | 95% interval | per-seed differences (min … max, sd) |",
        "|---|---|---|---|---|",
    ]
    for v in result["versions"][1:]:
        for m, e in result["metrics"].items():
            d = e["vs_reference"].get(v)
            if not d:
                continue
            seeds = f"{_f(d['seed_min'], True)} … {_f(d['seed_max'], True)}, sd {_f(d['seed_sd'])}"
            mark = " (beyond noise)" if d["distinguishable"] else ""
            lines.append(
                f"| {v} | {m} | {_f(d['diff'], True)} | {_f(d['diff_ci'][0], True)} to "
                f"{_f(d['diff_ci'][1], True)}{mark} | {seeds} |"
            )
    chart = plot_compare(result, path.parent / "compare.png")
    lines += ["", f"![metrics per version]({chart.name})", "", "## Runs", ""]
    lines += [
        f"- {r['version']} seed {r['seed']}: train run {r['train_run']}, score run {r['score_run']} "
        f"({r['overlapping']} eval items overlap its training data)"
        for r in result["runs"]
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
