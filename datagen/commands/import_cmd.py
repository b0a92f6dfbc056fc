"""``datagen import FILE``: seeds and examples into records (all or nothing; re-import adds nothing)."""

from __future__ import annotations

import click

from datagen.commands.common import echo_json, json_option, store_from


@click.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "self-instruct", "jsonl", "alpaca", "chatml"]),
)
@click.option("--skip-invalid", is_flag=True, help="Import the valid lines; report every skipped one.")
@click.option("--max-line-bytes", type=click.IntRange(min=1), default=4 * 1024 * 1024, show_default=True)
@json_option
@click.pass_context
def import_cmd(
    ctx: click.Context, path: str, fmt: str, skip_invalid: bool, max_line_bytes: int, as_json: bool
) -> None:
    """Import PATH: Self-Instruct seed tasks, instruction/input/output JSONL, an Alpaca JSON array or ChatML JSONL."""
    from datagen.importer import ImportConfig, import_file

    cfg = ImportConfig(path=path, format=fmt, skip_invalid=skip_invalid, max_line_bytes=max_line_bytes)
    summary = import_file(store_from(ctx), cfg)
    if as_json:
        echo_json(summary)
        return
    for item in summary["skipped"]:
        click.echo(f"skipped {item['where']}: {item['error']}", err=True)
    click.echo(
        f"run {summary['run_id']}: {summary['imported']} imported, {summary['already_present']} already present, "
        f"{summary['skipped_invalid']} skipped ({summary['format']})"
    )
