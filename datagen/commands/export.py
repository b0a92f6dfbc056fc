"""``datagen export DATASET --format jsonl|alpaca|chatml|prompt-completion|hf --out DIR [--push-to-hub REPO]``: files
plus a dataset card, optionally uploaded to the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from datagen.commands.common import config_from, echo_json, json_option, recipe_option, store_from
from datagen.commands.flags import config_options
from datagen.console import result
from datagen.export.config import ExportConfig


@click.command("export")
@config_options(ExportConfig, arguments=("dataset",))
@recipe_option
@json_option
@click.pass_context
def export_cmd(ctx: click.Context, as_json: bool, **kw: Any) -> None:
    """Export a dataset version (DATASET = NAME or NAME@VERSION); secrets are scanned and reported in the card."""
    from datagen.export.run import run_export

    cfg = config_from(ExportConfig, kw, "export")
    out = run_export(store_from(ctx), cfg).summary
    if as_json:
        echo_json({k: out[k] for k in ("dataset", "files", "scan", "pushed")})
        return
    names = ", ".join(str(Path(p).relative_to(out["out"])) for p in out["files"])
    result(f"exported {out['dataset']} as {cfg.format} to {out['out']}: {names}")
    if out["pushed"]:
        result(f"pushed to {cfg.push_to_hub}: {out['pushed']}")
    scan = out["scan"]
    if scan["findings"]:
        state = "redacted" if cfg.redact else "NOT redacted (use --redact)"
        result(
            f"secret scan: {scan['findings']} finding(s) {scan['by_kind']} in {len(scan['records'])} records, {state}"
        )
