"""``datagen worker --run ID``: share the work of a run started elsewhere with ``--workers N`` or
``--exec-share-work`` / ``--share-work`` (the same database): a generate run's requests
(``datagen/providers/shared.py``) or a filter run's batches (``filters/shared.py``)."""

from __future__ import annotations

import click

from datagen.commands.common import echo_json, json_option, store_from
from datagen.console import result


@click.command("worker")
@click.option("--run", "run_id", type=int, required=True, help="The run whose work to share.")
@click.option(
    "--api-key",
    envvar="DATAGEN_WORKER_API_KEY",
    help="The provider's API key (default: the provider's environment variable).",
)
@json_option
@click.pass_context
def worker_cmd(ctx: click.Context, run_id: int, api_key: str | None, as_json: bool) -> None:
    """Claim a shared run's requests (generate) or batches (filter) until it ends; Ctrl-C/SIGTERM hands the
    claims back."""
    from datagen.worker import run_worker

    summary = run_worker(store_from(ctx), run_id, api_key).summary
    if as_json:
        echo_json(summary)
        return
    done = (
        f"{summary['records']} record(s) judged"
        if "records" in summary
        else f"{summary.get('requests', 0)} request(s) sent"
    )
    result(f"worker run {summary['run_id']} for run {run_id}: {summary.get('items', 0)} item(s), {done}")  # fmt: skip
