"""``datagen import FILE``: seeds and examples into records (all or nothing; re-import adds nothing)."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import config_from, echo_json, json_option, recipe_option, store_from
from datagen.commands.flags import config_options
from datagen.console import result, say
from datagen.import_config import ImportConfig


@click.command("import")
@config_options(ImportConfig, arguments=("path",))
@recipe_option
@json_option
@click.pass_context
def import_cmd(ctx: click.Context, as_json: bool, **kw: Any) -> None:
    """Import PATH: Self-Instruct seed tasks, instruction/input/output JSONL, an Alpaca JSON array or ChatML JSONL."""
    from datagen.importer import run_import

    summary = run_import(store_from(ctx), config_from(ImportConfig, kw, "import")).summary
    if as_json:
        echo_json(summary)
        return
    for item in summary["skipped"]:
        say(f"skipped {item['where']}: {item['error']}")
    result(
        f"run {summary['run_id']}: {summary['imported']} imported, {summary['already_present']} already present, "
        f"{summary['skipped_invalid']} skipped ({summary['format']})"
    )
