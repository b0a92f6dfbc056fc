"""``run_review``: the review stage — draw (or resume) a sample, then decide it on a sheet, automatically or in
the terminal UI. The ``review`` command and the pipeline both call it."""

from __future__ import annotations

import sys
from typing import Any

from datagen.config import resolved
from datagen.errors import InputError
from datagen.review.config import ReviewConfig
from datagen.stage import StageResult
from datagen.store.engine import Store
from datagen.store.runs import tracked_run


def check_review(cfg: ReviewConfig) -> None:
    """What would fail after a sample is drawn is refused first: a sheet for automatic decisions, an
    unwritable sheet path, the terminal UI without a terminal."""
    if cfg.sheet is not None:
        if cfg.mode == "auto":
            raise InputError("--sheet writes a sheet for people to fill: not with --auto")
        from datagen.review.sheet import check_sheet_path

        check_sheet_path(cfg.sheet)
    elif cfg.mode == "human" and not sys.stdin.isatty():
        raise InputError(
            "review is interactive: the review UI needs a terminal: use --sheet FILE "
            "(then `datagen review import FILE`), or --auto"
        )


def run_review(store: Store, cfg: ReviewConfig, parent_run: int | None = None) -> StageResult:
    """Review ``cfg``'s scope (a run, a dataset version, or every record); ``summary["finished"]`` says
    whether every item of the sample is decided."""
    from datagen.review.sample import create_sample, latest_sample
    from datagen.review.scope import make_scope

    check_review(cfg)
    scope = make_scope(cfg.run, cfg.dataset)
    sid = cfg.sample if cfg.sample is not None else (None if cfg.new_sample else latest_sample(store, scope))
    created = sid is None
    with tracked_run(store, "review", {**resolved(cfg), "scope": scope, "sample_id": sid}, parent_run) as run:
        if sid is None:
            sid = create_sample(store, cfg, scope, run_id=run.id)
            run.counters["sample_id"] = sid
        summary = {"sample_id": sid, "created": created, **_decide(store, cfg, sid, run.id, created)}
        run.counters.update({k: v for k, v in summary.items() if isinstance(v, int | float)})
    outputs = {"sheet": cfg.sheet} if cfg.sheet else {}
    return StageResult(run.id, summary, outputs)


def _decide(store: Store, cfg: ReviewConfig, sid: int, run_id: int, created: bool) -> dict[str, Any]:
    if cfg.sheet is not None:
        from datagen.review.sheet import export_sheet

        return {"sheet": cfg.sheet, "rows": export_sheet(store, sid, cfg.sheet), "finished": False}
    if cfg.mode == "auto":
        from datagen.review.auto import auto_review

        return {**auto_review(store, sid, run_id=run_id), "finished": True}
    from datagen import progress
    from datagen.console import say
    from datagen.review.reviewer import resolve_reviewer
    from datagen.review.session import ReviewSession
    from datagen.review.tui import run_tui

    name = resolve_reviewer(cfg.reviewer)
    session = ReviewSession(store, sid, name, run_id=run_id)
    say(f"{'new' if created else 'resuming'} sample {sid}: {len(session.items)} items, reviewer {name}")
    with progress.paused():  # the review UI owns the terminal (no live bars over it)
        return run_tui(session, resume_hint=resume_hint(cfg, sid))


def resume_hint(cfg: ReviewConfig, sid: int) -> str:
    """How to come back to sample ``sid``: rerunning a ``--new-sample`` command would draw yet another sample."""
    if cfg.new_sample and cfg.sample is None:
        return f"To resume it, run the same command with --sample {sid} instead of --new-sample."
    return "Run the same command to resume."


def run_sheet_import(
    store: Store, path: str, reviewer: str | None, sample_id: int | None = None
) -> StageResult:
    """Apply a filled sheet under a ``review`` run: everything is validated first and applied at once, or
    nothing is (``sample_id``: refuse a sheet for another sample)."""
    from datagen.review.reviewer import resolve_reviewer
    from datagen.review.sheet import import_sheet

    name = resolve_reviewer(reviewer)
    with tracked_run(store, "review", {"import": path, "sample_id": sample_id, "reviewer": name}) as run:
        summary = import_sheet(store, path, name, sample_id, run_id=run.id)
        run.counters.update({k: v for k, v in summary.items() if isinstance(v, int)})
    return StageResult(run.id, summary)
