"""``datagen worker --run ID``: share the requests of a run started elsewhere with ``--workers N`` or
``--exec-share-work`` (the same database; ``datagen/providers/shared.py``)."""

from __future__ import annotations

import click

from datagen.commands.common import echo_json, json_option, store_from
from datagen.console import result


@click.command("worker")
@click.option("--run", "run_id", type=int, required=True, help="The run whose requests to share.")
@click.option(
    "--api-key",
    envvar="DATAGEN_WORKER_API_KEY",
    help="The provider's API key (default: the provider's environment variable).",
)
@json_option
@click.pass_context
def worker_cmd(ctx: click.Context, run_id: int, api_key: str | None, as_json: bool) -> None:
    """Claim and send a shared run's requests until that run ends; Ctrl-C/SIGTERM hands the claims back."""
    from datagen.worker import run_worker

    summary = run_worker(store_from(ctx), run_id, api_key).summary
    if as_json:
        echo_json(summary)
        return
    result(f"worker run {summary['run_id']} for run {run_id}: {summary.get('items', 0)} item(s), "
           f"{summary.get('requests', 0)} request(s) sent")  # fmt: skip
