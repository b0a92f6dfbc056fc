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
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
