"""``datagen generate self-instruct|evol``: run a generation method and print its closing summary."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import (
    config_from,
    echo_json,
    exit_if_partial,
    json_option,
    recipe_option,
    store_from,
)
from datagen.commands.flags import Aliases, config_options
from datagen.commands.group import Group
from datagen.console import result
from datagen.generation.config import EvolConfig, SelfInstructConfig

# Today's short names for the teacher's execution settings, shared by both methods.
TEACHER_ALIASES: Aliases = {
    "options": "--option",
    "exec.max_usd": "--max-usd",
    "exec.concurrency": "--concurrency",
    "exec.rpm": "--rpm",
    "exec.tpm": "--tpm",
    "exec.batch_api": "--batch-api",
    "exec.batch_poll_s": "--batch-poll-s",
    "exec.timeout_s": "--timeout-s",
    "exec.max_retries": "--max-retries",
    "exec.workers": "--workers",
    "exec.executor": "--executor",
    "exec.ray_address": "--address",
    "exec.ray_actors": "--ray-actors",
    "sampling.max_tokens": "--max-tokens",
}
EVOL_ALIASES: Aliases = {**TEACHER_ALIASES, "source": "--from", "weights": "--weight"}
estimate_option = click.option(
    "--estimate", is_flag=True, help="Run a few samples; print projected cost and time."
)


@click.group("generate", cls=Group)
def generate_cmd() -> None:
    """Generate records with Self-Instruct or Evol-Instruct (resumable: rerun the same command after a kill)."""


@generate_cmd.command("self-instruct")
@config_options(SelfInstructConfig, aliases=TEACHER_ALIASES)
@estimate_option
@recipe_option
@json_option
@click.pass_context
def self_instruct_cmd(ctx: click.Context, estimate: bool, as_json: bool, **kw: Any) -> None:
    """Self-Instruct (Wang et al. 2022): 8 example tasks per prompt, published filters, ROUGE-L novelty."""
    from datagen.generation.estimate import estimate_self_instruct
    from datagen.generation.self_instruct import run_self_instruct

    cfg = config_from(SelfInstructConfig, kw, "self_instruct", TEACHER_ALIASES)
    _generate(ctx, "self-instruct", cfg, estimate_self_instruct if estimate else run_self_instruct, as_json)


@generate_cmd.command("evol")
@config_options(EvolConfig, aliases=EVOL_ALIASES)
@estimate_option
@recipe_option
@json_option
@click.pass_context
def evol_cmd(ctx: click.Context, estimate: bool, as_json: bool, **kw: Any) -> None:
    """Evol-Instruct (Xu et al. 2023): in-depth and in-breadth evolution with elimination, M rounds."""
    from datagen.generation.estimate import estimate_evol
    from datagen.generation.evol_instruct import run_evol

    cfg = config_from(EvolConfig, kw, "evol", EVOL_ALIASES)
    _generate(ctx, "evol-instruct", cfg, estimate_evol if estimate else run_evol, as_json)


def _generate(ctx: click.Context, title: str, cfg: Any, method: Any, as_json: bool) -> None:
    """Run the method (or its estimate), print its summary, exit 3 when the run ended partial."""
    out = method(store_from(ctx), cfg)
    summary = out if isinstance(out, dict) else out.summary
    _report(title, summary, as_json)
    exit_if_partial(summary)


def _report(title: str, summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(summary)
        return
    if "est_cost_usd" in summary:
        result(f"{title} estimate (run {summary['run_id']}, {summary['sampled_requests']} sampled requests):")
    else:
        result(f"{title} run {summary['run_id']}:")
    for key, value in summary.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            result(f"  {key}:")
            for name, row in value.items():
                result(
                    f"    {name:<20} {row.get('passed')}/{row.get('attempted')} = {row.get('pass_rate'):.0%}"
                )
        elif key != "run_id":
            result(f"  {key}: {value}")
