"""Read-only views: ``datagen runs``, ``datagen show RECORD``, ``datagen stats``."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import echo_json, json_option, store_from


@click.command("runs")
@click.option("--kind", help="Only runs of this kind (import, generate, filter, ...).")
@click.option("--limit", type=int, default=30, show_default=True)
@click.option("--id", "run_id", type=int, help="One run in full, with its resolved config.")
@json_option
@click.pass_context
def runs_cmd(ctx: click.Context, kind: str | None, limit: int, run_id: int | None, as_json: bool) -> None:
    """List runs (newest first) with status, duration and counters; --id shows one with its config."""
    from datagen.views import list_runs, run_detail

    store = store_from(ctx)
    if run_id is not None:
        detail = run_detail(store, run_id)
        if as_json:
            echo_json(detail)
            return
        scores = detail.pop("scores")
        for key, value in detail.items():
            click.echo(f"{key:>14}: {value}")
        for sc in scores:
            ci = (
                f"  (tuned 95% CI {sc['ci_low']:.3f}–{sc['ci_high']:.3f})" if sc["ci_low"] is not None else ""
            )
            click.echo(
                f"{sc['metric']:>22}: base {_num(sc['base'])}  tuned {_num(sc['tuned'])}{ci}  n={sc['n']}"
            )
        return
    rows = list_runs(store, kind, limit)
    if as_json:
        echo_json(rows)
        return
    _table(
        ["id", "kind", "status", "started", "secs", "counters"],
        [
            [
                r["id"],
                r["kind"],
                r["status"],
                f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
                r["seconds"],
                _brief(r["counters"]),
            ]
            for r in rows
        ],
    )


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
    r = d["record"]
    click.echo(
        f"record {r['id']}  [{r['status']}]  method={r['method']} operation={r['operation']} round={r['round']}"
    )
    click.echo(
        f"  run {r['run_id']}  provider={r['provider']} model={r['model']} template={r['template_name']}"
    )
    if r["cost_usd"] is not None or r["prompt_tokens"] is not None:
        click.echo(f"  tokens {r['prompt_tokens']}+{r['completion_tokens']}  cost ${r['cost_usd'] or 0:.6f}")
    for field in ("instruction", "input", "output"):
        if r[field]:
            click.echo(f"\n{field.upper()}:\n{r[field]}")
    if r["raw"] and r["status"] == "parse_failed":
        click.echo(f"\nRAW (unparsed):\n{r['raw']}")
    click.echo("\nLINEAGE:")
    for a in d["ancestors"]:
        click.echo(
            f"  ^ {a['id']} [{a['method']}/{a['operation'] or '-'} r{a['round']}] {a['instruction'][:80]}"
        )
    for c in d["children"]:
        click.echo(
            f"  v {c['id']} [{c['method']}/{c['operation'] or '-'} r{c['round']}] {c['instruction'][:80]}"
        )
    if not d["ancestors"] and not d["children"]:
        click.echo("  (none)")
    click.echo(f"\nVERDICTS:\n  {'filter@version':<24} {'':<4} {'score':>10}  {'reason':<24} details")
    for v in d["verdicts"]:
        score = "-" if v["score"] is None else f"{v['score']:.4g}"
        mark = "pass" if v["passed"] else "DROP"
        name = f"{v['filter_name']}@{v['filter_version']}"
        click.echo(f"  {name:<24} {mark:<4} {score:>10}  {v['reason']:<24} {_brief(v['details'])}")
    if not d["verdicts"]:
        click.echo("  (none)")
    if d["reviews"]:
        click.echo("\nREVIEWS:")
        for rv in d["reviews"]:
            who = rv["reviewer"] + ("" if rv["is_human"] else " (automatic, not human)")
            click.echo(f"  {rv['decision']} by {who} {rv['reason_code'] or ''} {rv['note'] or ''}".rstrip())


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
        click.echo(f"records by {title}:")
        for name, n in data[key].items():
            click.echo(f"  {name or '-':<24} {n:>9,}")
    click.echo(f"  {'total':<24} {data['records']:>9,}")
    if data["verdicts"]:
        click.echo("verdicts (filter, reason):")
        for row in data["verdicts"]:
            click.echo(f"  {row['filter']:<24} {row['reason']:<28} {row['count']:>9,}")
    click.echo(
        f"paid: ${data['cost_usd']:.4f}  tokens: {data['prompt_tokens']:,} in / {data['completion_tokens']:,} out"
        " (requests actually made; cache replays are free)"
    )


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _brief(d: dict[str, Any] | None, width: int = 70) -> str:
    if not d:
        return ""
    text = ", ".join(f"{k}={v}" for k, v in d.items() if not isinstance(v, dict | list))
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(headers: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(*headers, box=None, pad_edge=False)
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    Console(width=160).print(t)
