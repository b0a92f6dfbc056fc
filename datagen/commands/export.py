"""``datagen export DATASET --format jsonl|alpaca|chatml|hf --out DIR``: files plus a dataset card."""

from __future__ import annotations

from pathlib import Path

import click

from datagen.commands.common import echo_json, json_option, store_from
from datagen.export import FORMATS


@click.command("export")
@click.argument("dataset")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True)
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), help="Output folder (default exports/NAME-vN-FMT)."
)
@click.option("--version", "version", type=int, help="Dataset version (default: latest, or NAME@VERSION).")
@click.option(
    "--redact", is_flag=True, help="Replace found secrets and personal data with [REDACTED_<KIND>]."
)
@click.option("--chatml-text", is_flag=True, help="ChatML: also write the rendered <|im_start|> text.")
@json_option
@click.pass_context
def export_cmd(ctx: click.Context, dataset: str, fmt: str, out_dir: str | None, version: int | None,
               redact: bool, chatml_text: bool, as_json: bool) -> None:  # fmt: skip
    """Export a dataset version (DATASET = NAME or NAME@VERSION); secrets are scanned and reported in the card."""
    import json

    from datagen.datasets import show_dataset
    from datagen.export.run import export_dataset

    store = store_from(ctx)
    info = show_dataset(store, dataset, version)
    out = out_dir or f"exports/{info['name']}-v{info['version']}-{fmt}"
    paths = export_dataset(
        store, info["name"], info["version"], fmt, out, redact=redact, chatml_text=chatml_text
    )
    scan = json.loads(next(p for p in paths if p.name == "scan.json").read_text())
    if as_json:
        echo_json(
            {"dataset": f"{info['name']}@{info['version']}", "files": [str(p) for p in paths], "scan": scan}
        )
        return
    click.echo(
        f"exported {info['name']}@{info['version']} as {fmt} to {out}: "
        + ", ".join(str(Path(p).relative_to(out)) for p in paths)
    )
    if scan["findings"]:
        state = "redacted" if redact else "NOT redacted (use --redact)"
        click.echo(
            f"secret scan: {scan['findings']} finding(s) {scan['by_kind']} in {len(scan['records'])} records, {state}"
        )
