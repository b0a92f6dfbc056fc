"""Read-only views: ``datagen runs``, ``datagen show RECORD``, ``datagen stats``."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import echo_json, json_option, store_from
from datagen.console import result, rich_console


@click.command("runs")
@click.option("--kind", help="Only runs of this kind (import, generate, filter, ...).")
@click.option("--limit", type=int, default=30, show_default=True)
@click.option("--id", "run_id", type=int, help="One run in full, with its resolved config.")
@json_option
@click.pass_context
def runs_cmd(ctx: click.Context, kind: str | None, limit: int, run_id: int | None, as_json: bool) -> None:
    """List runs (newest first) with status, duration and counters; --id shows one with its config.

    Statuses: running, succeeded, partial (some requests failed; rerun to retry them), budget_stopped,
    failed, interrupted; "interrupted (stale)" is a run whose process died without closing it (resumable)."""
    from datagen.views import list_runs, run_detail

    store = store_from(ctx)
    if run_id is not None:
        detail = run_detail(store, run_id)
        if as_json:
            echo_json(detail)
            return
        scores = detail.pop("scores")
        for key, value in detail.items():
            result(f"{key:>14}: {value}")
        for sc in scores:
            ci = (
                f"  (tuned 95% CI {sc['ci_low']:.3f}–{sc['ci_high']:.3f})" if sc["ci_low"] is not None else ""
            )
            result(f"{sc['metric']:>22}: base {_num(sc['base'])}  tuned {_num(sc['tuned'])}{ci}  n={sc['n']}")
        return
    rows = list_runs(store, kind, limit)
    if as_json:
        echo_json(rows)
        return
    _table(["id", "kind", "status", "started", "secs", "device", "counters"], [_run_row(r) for r in rows])


def _run_row(r: dict[str, Any]) -> list[Any]:
    counters = dict(r["counters"] or {})
    return [
        r["id"],
        r["kind"],
        r["status"] + (" (stale)" if r["stale"] else ""),
        f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
        r["seconds"],
        counters.pop("device", ""),  # where its local models ran (datagen.lm.usage)
        _brief(counters),
    ]


@click.command("show")
@click.argument("record_id", type=int)
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, record_id: int, as_json: bool) -> None:
    """Show RECORD_ID: its fields, lineage (ancestors and children), every verdict and review."""
    from datagen.views import record_detail

    d = record_detail(store_from(ctx), record_id)
    if as_json:
        echo_json(d)
        return
    _show_record(d["record"])
    _show_lineage(d["ancestors"], d["children"])
    _show_verdicts(d["verdicts"])
    _show_reviews(d["reviews"])


def _show_record(r: dict[str, Any]) -> None:
    result(
        f"record {r['id']}  [{r['status']}]  method={r['method']} operation={r['operation']} round={r['round']}"
    )
    result(f"  run {r['run_id']}  provider={r['provider']} model={r['model']} template={r['template_name']}")
    if r["cost_usd"] is not None or r["prompt_tokens"] is not None:
        result(f"  tokens {r['prompt_tokens']}+{r['completion_tokens']}  cost ${r['cost_usd'] or 0:.6f}")
    for field in ("instruction", "input", "output"):
        if r[field]:
            result(f"\n{field.upper()}:\n{r[field]}")
    if r["raw"] and r["status"] == "parse_failed":
        result(f"\nRAW (unparsed):\n{r['raw']}")


def _show_lineage(ancestors: list[dict[str, Any]], children: list[dict[str, Any]]) -> None:
    result("\nLINEAGE:")
    for mark, rows in (("^", ancestors), ("v", children)):
        for a in rows:
            result(
                f"  {mark} {a['id']} [{a['method']}/{a['operation'] or '-'} r{a['round']}] {a['instruction'][:80]}"
            )
    if not ancestors and not children:
        result("  (none)")


def _show_verdicts(verdicts: list[dict[str, Any]]) -> None:
    result(f"\nVERDICTS:\n  {'filter@version':<24} {'':<4} {'score':>10}  {'reason':<24} details")
    for v in verdicts:
        score = "-" if v["score"] is None else f"{v['score']:.4g}"
        mark = "pass" if v["passed"] else "DROP"
        name = f"{v['filter_name']}@{v['filter_version']}"
        result(f"  {name:<24} {mark:<4} {score:>10}  {v['reason']:<24} {_brief(v['details'])}")
    if not verdicts:
        result("  (none)")


def _show_reviews(reviews: list[dict[str, Any]]) -> None:
    """One line per review, oldest first; an undone one is marked (it no longer counts anywhere)."""
    if not reviews:
        return
    result("\nREVIEWS:")
    for rv in reviews:
        who = rv["reviewer"] + ("" if rv["is_human"] else " (automatic, not human)")
        line = f"  {'UNDONE ' if rv['undone'] else ''}{rv['decision']} by {who}"
        line += f" ({rv['reason_code']})" if rv["reason_code"] else ""
        line += f" -> revision {rv['edited_record_id']}" if rv["edited_record_id"] else ""
        line += f" sample {rv['sample_id']}" if rv["sample_id"] is not None else ""
        result(line + (f"\n    note: {rv['note']}" if rv["note"] else ""))


@click.command("stats")
@click.option("--run", "run_id", type=int, help="Only records of this run.")
@json_option
@click.pass_context
def stats_cmd(ctx: click.Context, run_id: int | None, as_json: bool) -> None:
    """Counts of records by status, method and operation, and of verdicts by filter and reason."""
    from datagen.views import stats

    data = stats(store_from(ctx), run_id)
    if as_json:
        echo_json(data)
        return
    for title, key in (("status", "by_status"), ("method", "by_method"), ("operation", "by_operation")):
        result(f"records by {title}:")
        for name, n in data[key].items():
            result(f"  {name or '-':<24} {n:>9,}")
    result(f"  {'total':<24} {data['records']:>9,}")
    if data["verdicts"]:
        result("verdicts (filter, reason):")
        for row in data["verdicts"]:
            result(f"  {row['filter']:<24} {row['reason']:<28} {row['count']:>9,}")
    result(
        f"paid: ${data['cost_usd']:.4f}  tokens: {data['prompt_tokens']:,} in / {data['completion_tokens']:,} out"
        f"  answers: {data['paid_answers']:,} (requests actually made; cache replays are free)"
    )


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _brief(d: dict[str, Any] | None, width: int = 70) -> str:
    if not d:
        return ""
    text = ", ".join(f"{k}={v}" for k, v in d.items() if not isinstance(v, dict | list))
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(headers: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    t = Table(*headers, box=None, pad_edge=False)
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    rich_console(width=160).print(t)
