"""The one output channel for people: results on stdout, progress and notes on stderr.

Diagnostics for developers go through ``logging`` (one logger per module); what a user reads goes through
here: ``result`` (the answer of a command, on stdout), ``say`` (progress lines and notes, on stderr, so a
piped ``--json`` stays clean; silent with ``--quiet``), ``alert`` (errors and warnings, on stderr, shown even
with ``--quiet``), ``emit_json`` (machine-readable results) and ``rich_console`` for tables and the review
UI. Live progress (bars on a terminal, heartbeat lines elsewhere) is ``datagen.progress``'s; a line said
while bars are drawn appears above them.
"""

from __future__ import annotations

import json
from typing import Any

import click


def result(text: str = "") -> None:
    """A line of a command's result (stdout)."""
    click.echo(text)


def say(text: str) -> None:
    """A progress line or a note for the person running the command (stderr; nothing with ``--quiet``)."""
    from datagen import progress

    if not progress.settings.quiet:
        alert(text)


def alert(text: str) -> None:
    """An error or a warning (stderr, also with ``--quiet``)."""
    from datagen.progress_out import live_console

    live = live_console()
    if live is not None:
        live.print(text, markup=False, highlight=False, soft_wrap=True)
    else:
        click.echo(text, err=True)


def emit_json(data: Any) -> None:
    """A command's result as JSON on stdout (times as ISO 8601, anything else unknown as text)."""
    click.echo(json.dumps(data, indent=2, default=_plain, ensure_ascii=False))


def rich_console(width: int | None = None, stderr: bool = False) -> Any:
    """A rich Console for tables and the review UI (colour only on a terminal)."""
    from rich.console import Console

    return Console(width=width, stderr=stderr, highlight=False, force_terminal=None)


def _plain(value: Any) -> Any:
    from datetime import date

    return value.isoformat() if isinstance(value, date) else str(value)
