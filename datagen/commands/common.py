"""Helpers shared by commands: the store from the context, the --recipe/--json options, the config loader."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from datagen.commands.flags import PREFIX, Aliases, overrides
from datagen.commands.group import ARGV_KEY
from datagen.console import emit_json as echo_json

if TYPE_CHECKING:
    from pydantic import BaseModel

    from datagen.store.engine import Store

__all__ = ["config_from", "echo_json", "exit_if_partial", "json_option", "recipe_option", "store_from"]


def store_from(ctx: click.Context) -> Store:
    from datagen.store.engine import open_store

    root = ctx.find_root()
    obj = root.obj or {}
    return open_store(obj.get("db"))


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
recipe_option = click.option(
    "--recipe",
    help="YAML recipe (or an embedded recipe's name): this command's config, or a pipeline recipe whose "
    "section for this command is used. Flags override it.",
)


def config_from(
    cls: type[BaseModel],
    kw: dict[str, Any],
    section: str | None,
    aliases: Aliases | None = None,
    **fixed: Any,
) -> Any:
    """The command's config: defaults < ``--recipe`` (flat, or ``section`` of a pipeline recipe) < the
    generated flags given < ``fixed`` values the command derived from its own arguments."""
    from datagen.config import deep_merge, load_config

    given = deep_merge(overrides(kw, cls, aliases), {k: v for k, v in fixed.items() if v is not None})
    ctx = click.get_current_context(silent=True)
    flags = typed_flags(ctx) if ctx is not None else {}
    return load_config(cls, kw.pop("recipe", None), given, section=section, flags=flags)  # type: ignore[type-var]


def typed_flags(ctx: click.Context) -> dict[str, str]:
    """Each config field of the running command -> its flag as the user typed it (``--lr`` where they used
    that alias of ``--learning-rate``) or its positional argument (``DATASET``), for error messages."""
    typed = {token.split("=", 1)[0] for token in ctx.meta.get(ARGV_KEY, ())}
    out: dict[str, str] = {}
    for p in ctx.command.params:
        name = p.name or ""
        if not name.startswith(PREFIX) or name.startswith(PREFIX + "set__"):
            continue
        path = name.removeprefix(PREFIX).replace("__", ".")
        if isinstance(p, click.Option):
            out[path] = next((n for n in p.opts + p.secondary_opts if n in typed), p.opts[0])
        else:
            out[path] = p.human_readable_name
    return out


def exit_if_partial(summary: dict[str, Any]) -> None:
    """After the summary is shown: a run that ended ``partial`` (requests failed after their retries) exits 3."""
    if summary.get("status") != "partial":
        return
    from datagen.console import alert
    from datagen.errors import RequestsFailed

    alert(
        f"partial: {summary.get('failed_requests', '?')} request(s) failed after their retries (datagen runs "
        f"--id {summary.get('run_id')}); rerun the same command to retry only those"
    )
    raise click.exceptions.Exit(RequestsFailed.exit_code)
