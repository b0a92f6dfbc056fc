"""``datagen review``: draw (or resume) a sample and decide in the terminal; export-sheet, import, stats."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import echo_json, json_option, store_from


def _scope_opts(f: Any) -> Any:
    f = click.option("--dataset", help="Review a dataset version (NAME or NAME@VERSION).")(f)
    f = click.option("--run", "run_id", type=int, help="Review the records of a run (and its child runs).")(f)
    return click.option("--sample", "sample_id", type=int, help="An existing review sample id.")(f)


def _sample_for(store: Any, sample_id: int | None, run_id: int | None, dataset: str | None) -> int:
    from datagen.errors import InputError
    from datagen.review.sample import latest_sample
    from datagen.review.scope import describe, make_scope

    if sample_id is not None:
        return sample_id
    scope = make_scope(run_id, dataset)
    found = latest_sample(store, scope)
    if found is None:
        raise InputError(
            f"no review sample for {describe(scope)} yet: draw one with `datagen review ... --sheet FILE` "
            "(writes the sheet too) or `datagen review` in a terminal"
        )
    return found


@click.group("review", invoke_without_command=True)
@_scope_opts
@click.option("--new-sample", is_flag=True, help="Draw a new sample even if one exists for this scope.")
@click.option("--recipe", help="Recipe file or name; its 'review' section fills the config.")
@click.option("--seed", type=int, help="Sampling seed (default 0).")
@click.option("--fraction", type=float, help="Fraction of kept records to sample (default 0.05).")
@click.option("--min-count", type=int, help="At least this many items (default 20).")
@click.option(
    "--filtered-fraction", type=float, help="Fraction of filtered-out records to add (default 0.02)."
)
@click.option("--score-filter", help="Filter whose score buckets the strata (auto, none, or a name).")
@click.option("--reviewer", help="Your name (else DATAGEN_REVIEWER, git user.name, login).")
@click.option("--auto", "auto", is_flag=True, help="Automatic decisions (reviewer 'auto', not human).")
@click.option(
    "--sheet",
    type=click.Path(dir_okay=False),
    help="Write the sample as a sheet (.jsonl or .csv) to decide offline, instead of the terminal UI.",
)
@json_option
@click.pass_context
def review_cmd(ctx: click.Context, sample_id: int | None, run_id: int | None, dataset: str | None,
               new_sample: bool, recipe: str | None, seed: int | None, fraction: float | None,
               min_count: int | None, filtered_fraction: float | None, score_filter: str | None,
               reviewer: str | None, auto: bool, sheet: str | None, as_json: bool) -> None:  # fmt: skip
    """Review a stratified sample of kept records: accept, reject, edit, skip, undo, quit and resume later."""
    if ctx.invoked_subcommand is not None:
        return
    import sys

    from datagen.config import load_config, resolved
    from datagen.errors import InputError
    from datagen.review import ReviewConfig, auto_review, create_sample
    from datagen.review.reviewer import resolve_reviewer
    from datagen.review.sample import latest_sample
    from datagen.review.scope import make_scope
    from datagen.review.session import ReviewSession
    from datagen.store.runs import tracked_run

    overrides = {"seed": seed, "fraction": fraction, "min_count": min_count, "filtered_fraction": filtered_fraction,
                 "score_filter": score_filter, "reviewer": reviewer, "mode": "auto" if auto else None}  # fmt: skip
    cfg = load_config(ReviewConfig, recipe, overrides, section="review" if recipe else None)
    if sheet is not None:
        if cfg.mode == "auto":
            raise InputError("--sheet writes a sheet for people to fill: not with --auto")
        from datagen.review.sheet import check_sheet_path

        check_sheet_path(sheet)
    elif cfg.mode == "human" and not sys.stdin.isatty():
        raise InputError(
            "the review UI needs a terminal: use --sheet FILE (then `review import FILE`), or --auto"
        )
    store = store_from(ctx)
    scope = make_scope(run_id, dataset)
    sid = sample_id if sample_id is not None else (None if new_sample else latest_sample(store, scope))
    created = sid is None
    with tracked_run(store, "review", {**resolved(cfg), "scope": scope, "sample_id": sid}) as run:
        if sid is None:
            sid = create_sample(store, cfg, scope, run_id=run.id)
            run.counters["sample_id"] = sid
        if sheet is not None:
            from datagen.review.sheet import export_sheet

            out = {
                "sample_id": sid,
                "sheet": sheet,
                "rows": export_sheet(store, sid, sheet),
                "created": created,
            }
        elif cfg.mode == "auto":
            out = auto_review(store, sid, run_id=run.id)
        else:
            from datagen.review.tui import run_tui

            name = resolve_reviewer(cfg.reviewer)
            session = ReviewSession(store, sid, name, run_id=run.id)
            click.echo(
                f"{'new' if created else 'resuming'} sample {sid}: {len(session.items)} items, reviewer {name}"
            )
            out = run_tui(session)
        run.counters.update({k: v for k, v in out.items() if isinstance(v, int | float)})
    if as_json:
        echo_json(out)
    elif sheet is not None:
        click.echo(f"{'new' if created else 'existing'} sample {sid}: wrote {out['rows']} rows to {sheet}; "
                   f"fill in 'decision' and run `datagen review import {sheet}`")  # fmt: skip
    elif cfg.mode == "auto":
        click.echo(f"sample {sid}: automatic review decided {out['decided']} ({out['accepted']} accepted, "
                   f"{out['rejected']} rejected); marked is_human=false")  # fmt: skip


@review_cmd.command("export-sheet")
@_scope_opts
@click.argument("out", type=click.Path(dir_okay=False))
@click.pass_context
def export_sheet_cmd(ctx: click.Context, sample_id: int | None, run_id: int | None, dataset: str | None,
                     out: str) -> None:  # fmt: skip
    """Write a sample as a sheet (OUT ends in .jsonl or .csv) to decide offline."""
    from datagen.review.sheet import export_sheet

    store = store_from(ctx)
    sid = _sample_for(store, sample_id, run_id, dataset)
    n = export_sheet(store, sid, out)
    click.echo(f"wrote {n} rows of sample {sid} to {out}")


@review_cmd.command("import")
@click.argument("sheet", type=click.Path(dir_okay=False))
@click.option("--sample", "sample_id", type=int, help="Refuse the sheet unless it is for this sample.")
@click.option("--reviewer", help="Your name (else DATAGEN_REVIEWER, git user.name, login).")
@json_option
@click.pass_context
def import_cmd(
    ctx: click.Context, sheet: str, sample_id: int | None, reviewer: str | None, as_json: bool
) -> None:
    """Apply a filled sheet: everything is validated first and applied at once, or nothing is."""
    from datagen.review.reviewer import resolve_reviewer
    from datagen.review.sheet import import_sheet
    from datagen.store.runs import tracked_run

    store = store_from(ctx)
    name = resolve_reviewer(reviewer)
    with tracked_run(store, "review", {"import": sheet, "sample_id": sample_id, "reviewer": name}) as run:
        out = import_sheet(store, sheet, name, sample_id, run_id=run.id)
        run.counters.update({k: v for k, v in out.items() if isinstance(v, int)})
    if as_json:
        echo_json(out)
    else:
        rest = ", ".join(f"{k} {v}" for k, v in out.items() if k not in ("sample_id", "reviewer", "applied"))
        click.echo(f"applied {out['applied']} decisions to sample {out['sample_id']} as {name} ({rest})")


@review_cmd.command("stats")
@_scope_opts
@json_option
@click.pass_context
def stats_cmd(ctx: click.Context, sample_id: int | None, run_id: int | None, dataset: str | None,
              as_json: bool) -> None:  # fmt: skip
    """Acceptance with Wilson 95% intervals, defect estimate, filter precision/recall, kappa."""
    from datagen.review.report import print_stats
    from datagen.review.scope import make_scope
    from datagen.review.stats import review_stats

    store = store_from(ctx)
    target: int | dict[str, Any] = sample_id if sample_id is not None else make_scope(run_id, dataset)
    st = review_stats(store, target)
    if as_json:
        echo_json(st)
    else:
        print_stats(st)
