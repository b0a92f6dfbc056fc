"""Helpers shared by commands: opening the store from the context, JSON output."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from datagen.store.engine import Store


def store_from(ctx: click.Context) -> Store:
    from datagen.store.engine import open_store

    root = ctx.find_root()
    obj = root.obj or {}
    return open_store(obj.get("db"))


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_plain, ensure_ascii=False))


def _plain(value: Any) -> Any:
    """JSON for what json does not know: times as ISO 8601 (one format everywhere), the rest as text."""
    from datetime import date

    return value.isoformat() if isinstance(value, date) else str(value)


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
