"""``datagen generate self-instruct|evol``: run a generation method and print its closing summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from datagen.commands.common import echo_json, json_option, store_from


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    from datagen.errors import InputError

    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key:
            raise InputError(f"{flag} {v!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def _options(values: tuple[str, ...]) -> dict[str, Any] | None:
    import yaml

    return {k: yaml.safe_load(v) for k, v in _pairs(values, "--option").items()} or None


def teacher_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The flags both methods share: the teacher, the execution layer, the recipe, --estimate and --json."""
    for opt in reversed(
        [
            click.option("--provider", help="openai | anthropic | local (default local)."),
            click.option("--model", help="Model name (needed for openai and anthropic; local: SmolLM2)."),
            click.option(
                "--option", "options", multiple=True, help="Provider option KEY=VALUE (repeatable)."
            ),
            click.option(
                "--api-key", help="API key (else the recipe, else the provider's environment variable)."
            ),
            click.option(
                "--recipe", help="YAML recipe: this command's config, or a pipeline recipe's section."
            ),
            click.option("--max-usd", type=float, help="Budget cap: stop cleanly before spending more."),
            click.option("--concurrency", type=int, help="Requests in flight."),
            click.option("--rpm", type=float, help="Requests per minute."),
            click.option("--tpm", type=float, help="Tokens per minute."),
            click.option(
                "--batch-api",
                is_flag=True,
                default=None,
                help="Use the provider's batch API (openai, anthropic): half price, within 24 h; resumable.",
            ),
            click.option("--batch-poll-s", type=float, help="Seconds between checks of open batches (30)."),
            click.option("--max-tokens", type=int, help="max_tokens of the main generation prompt."),
            click.option("--seed", type=int, help="Seed of the run's random choices."),
            click.option(
                "--estimate", is_flag=True, help="Run a few samples; print projected cost and time."
            ),
            json_option,
        ]
    ):
        f = opt(f)
    return f


def _common(kw: dict[str, Any]) -> dict[str, Any]:
    return {
        "provider": kw["provider"],
        "model": kw["model"],
        "options": _options(kw["options"]),
        "api_key": kw["api_key"],
        "seed": kw["seed"],
        "exec": {
            k: v
            for k, v in {
                "max_usd": kw["max_usd"],
                "concurrency": kw["concurrency"],
                "rpm": kw["rpm"],
                "tpm": kw["tpm"],
                "batch_api": kw["batch_api"],
                "batch_poll_s": kw["batch_poll_s"],
            }.items()
            if v is not None
        }
        or None,
    }


def _config(cls: Any, kw: dict[str, Any], over: dict[str, Any], section: str) -> Any:
    """The recipe (or its ``section`` of a pipeline recipe), then the flags; --max-tokens changes only
    max_tokens of the main prompt's sampling (its other settings stay)."""
    from datagen.config import load_config, section_of

    sampling = {"max_tokens": kw["max_tokens"]} if kw["max_tokens"] is not None else None
    flags = {**_common(kw), **over, "sampling": sampling}
    return load_config(cls, kw["recipe"], flags, section=section_of(kw["recipe"], section))


def _generate(ctx: click.Context, kw: dict[str, Any], title: str, cfg: Any, estimate: Any, run: Any) -> None:
    """``--estimate`` or the run itself, then the closing summary."""
    store = store_from(ctx)
    summary = estimate(store, cfg) if kw["estimate"] else run(store, cfg, progress=not kw["as_json"])
    _report(title, summary, kw["as_json"])


def _report(title: str, summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(summary)
        return
    if "est_cost_usd" in summary:
        click.echo(
            f"{title} estimate (run {summary['run_id']}, {summary['sampled_requests']} sampled requests):"
        )
    else:
        click.echo(f"{title} run {summary['run_id']}:")
    for key, value in summary.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            click.echo(f"  {key}:")
            for name, row in value.items():
                click.echo(
                    f"    {name:<20} {row.get('passed')}/{row.get('attempted')} = {row.get('pass_rate'):.0%}"
                )
        elif key != "run_id":
            click.echo(f"  {key}: {value}")


@click.group("generate")
def generate_cmd() -> None:
    """Generate records with Self-Instruct or Evol-Instruct (resumable: rerun the same command after a kill)."""


@generate_cmd.command("self-instruct")
@click.option(
    "--seeds",
    type=click.Path(dir_okay=False),
    help="Seed tasks (Self-Instruct JSONL or plain JSONL; 'builtin': the bundled 31). Default: seeds in the DB.",
)
@click.option(
    "--n",
    type=int,
    help="Stop after the step in which this many new instructions were accepted (default 100).",
)
@click.option("--prompts-per-step", type=int, help="Generation prompts sent together per step (default 8).")
@click.option("--max-steps", type=int, help="Stop after this many steps.")
@teacher_options
@click.pass_context
def self_instruct_cmd(ctx: click.Context, **kw: Any) -> None:
    """Self-Instruct (Wang et al. 2022): 8 example tasks per prompt, published filters, ROUGE-L novelty."""
    from datagen.generation.config import SelfInstructConfig
    from datagen.generation.estimate import estimate_self_instruct
    from datagen.generation.self_instruct import run_self_instruct

    over = {k: kw[k] for k in ("seeds", "n", "prompts_per_step", "max_steps")}
    cfg = _config(SelfInstructConfig, kw, over, "self_instruct")
    _generate(ctx, kw, "self-instruct", cfg, estimate_self_instruct, run_self_instruct)


@generate_cmd.command("evol")
@click.option(
    "--from",
    "source",
    help="run:ID | status:STATUS | method:METHOD, comma-separated for a union (default status:candidate).",
)
@click.option("--rounds", type=int, help="M rounds of evolution (default 4).")
@click.option("--limit", type=int, help="Evolve at most this many source records.")
@click.option("--weight", "weights", multiple=True, help="Operation weight OP=W (repeatable; others keep 1).")
@teacher_options
@click.pass_context
def evol_cmd(ctx: click.Context, **kw: Any) -> None:
    """Evol-Instruct (Xu et al. 2023): in-depth and in-breadth evolution with elimination, M rounds."""
    from datagen.errors import InputError
    from datagen.generation.config import OPERATIONS, EvolConfig
    from datagen.generation.estimate import estimate_evol
    from datagen.generation.evol_instruct import run_evol

    weights = None
    if kw["weights"]:
        try:
            given = {k: float(v) for k, v in _pairs(kw["weights"], "--weight").items()}
        except ValueError as e:
            raise InputError(f"--weight: {e}") from None
        weights = {**dict.fromkeys(OPERATIONS, 1.0), **given}
    over = {"source": kw["source"], "rounds": kw["rounds"], "limit": kw["limit"], "weights": weights}
    cfg = _config(EvolConfig, kw, over, "evol")
    _generate(ctx, kw, "evol-instruct", cfg, estimate_evol, run_evol)
