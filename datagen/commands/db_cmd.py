"""``datagen db upgrade`` / ``datagen db current``: the schema revision (Alembic)."""

from __future__ import annotations

import click

from datagen.commands.common import echo_json, json_option
from datagen.commands.group import Group
from datagen.console import result


@click.group("db", cls=Group)
def db_cmd() -> None:
    """Database schema: upgrade to head, or show the current revision."""


@db_cmd.command("upgrade")
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Upgrade the database to the newest schema (also done automatically on first use)."""
    from datagen.store.engine import open_store
    from datagen.store.migrate import current_revision

    store = open_store(ctx.find_root().obj.get("db"))
    result(f"{store.shown_url}: at {current_revision(store.engine)} (head)")


@db_cmd.command("current")
@json_option
@click.pass_context
def current(ctx: click.Context, as_json: bool) -> None:
    """Show the database's schema revision and the head this datagen knows, without changing anything."""
    from datagen.store.engine import open_store
    from datagen.store.migrate import current_revision, head_revision, is_known

    store = open_store(ctx.find_root().obj.get("db"), upgrade=False)
    rev = current_revision(store.engine)
    head = head_revision()
    newer = not is_known(rev)
    if as_json:
        echo_json(
            {"url": store.shown_url, "current": rev, "head": head, "up_to_date": rev == head, "newer": newer}
        )
        return
    note = (
        " (written by a newer datagen: upgrade datagen to use it)"
        if newer
        else ("" if rev == head else " (run db upgrade)")
    )
    result(f"{store.shown_url}: current {rev or '(empty)'}, head {head}{note}")
