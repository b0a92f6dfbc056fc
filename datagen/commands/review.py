"""``datagen review``: draw (or resume) a sample and decide in the terminal; export-sheet, import, stats."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import config_from, echo_json, json_option, recipe_option, store_from
from datagen.commands.flags import Aliases, config_options
from datagen.commands.group import Group
from datagen.console import result
from datagen.review.config import ReviewConfig


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


ALIASES: Aliases = {"--auto": ("mode", "auto")}


@click.group("review", cls=Group, invoke_without_command=True)
@config_options(ReviewConfig, aliases=ALIASES)
@recipe_option
@json_option
@click.pass_context
def review_cmd(ctx: click.Context, as_json: bool, **kw: Any) -> None:
    """Review a stratified sample of kept records: accept, reject, edit, skip, note, undo, quit and resume later."""
    if ctx.invoked_subcommand is not None:
        return
    from datagen.review.run import check_review, run_review

    cfg = config_from(ReviewConfig, kw, "review", ALIASES)
    check_review(cfg)
    out = run_review(store_from(ctx), cfg).summary
    if as_json:
        echo_json(out)
    elif cfg.sheet is not None:
        result(f"{'new' if out['created'] else 'existing'} sample {out['sample_id']}: wrote {out['rows']} rows "
               f"to {cfg.sheet}; fill in 'decision' and run `datagen review import {cfg.sheet}`")  # fmt: skip
    elif cfg.mode == "auto":
        result(f"sample {out['sample_id']}: automatic review decided {out['decided']} ({out['accepted']} "
               f"accepted, {out['rejected']} rejected); marked is_human=false")  # fmt: skip


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
    result(f"wrote {n} rows of sample {sid} to {out}")


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
    from datagen.review.run import run_sheet_import

    out = run_sheet_import(store_from(ctx), sheet, reviewer, sample_id).summary
    if as_json:
        echo_json(out)
    else:
        rest = ", ".join(f"{k} {v}" for k, v in out.items() if k not in ("sample_id", "reviewer", "applied"))
        result(
            f"applied {out['applied']} decisions to sample {out['sample_id']} as {out['reviewer']} ({rest})"
        )


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
