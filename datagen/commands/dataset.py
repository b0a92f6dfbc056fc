"""``datagen dataset create/list/show``: versioned, gated, leak-free datasets of approved records."""

from __future__ import annotations

import click

from datagen.commands.common import echo_json, json_option, store_from


@click.group("dataset")
def dataset_cmd() -> None:
    """Versioned datasets: create (gated by review), list, show."""


def _parse_from(value: str | None) -> tuple[int | None, str | None]:
    """``--from``: ``run:N`` or ``N`` (a run), ``dataset:NAME[@V]`` or ``NAME@V`` (a dataset version)."""
    from datagen.errors import InputError

    if value is None:
        return None, None
    kind, _, rest = value.partition(":")
    if rest and kind == "run" and rest.isdigit():
        return int(rest), None
    if rest and kind == "dataset":
        return None, rest
    if value.isdigit():
        return int(value), None
    if "@" in value and ":" not in value:
        return None, value
    raise InputError(f"--from {value!r}: use run:N, N, dataset:NAME[@VERSION] or NAME@VERSION")


@dataset_cmd.command("create")
@click.argument("name")
@click.option("--from", "source", help="run:N (default: every record) or dataset:NAME[@VERSION].")
@click.option("--recipe", help="Recipe file or name; its 'dataset' section fills the config.")
@click.option("--seed", type=int, help="Split seed (default 0).")
@click.option(
    "--force", is_flag=True, default=None, help="Create even when the review gate fails (recorded)."
)
@click.option("--min-reviewed-fraction", type=float, help="Gate: minimum reviewed fraction (default 0.05).")
@click.option("--acceptance-floor", type=float, help="Gate: minimum Wilson lower bound (default 0.5).")
@click.option("--require-human", is_flag=True, default=None, help="Gate on human decisions only.")
@click.option(
    "--reviewed-only", is_flag=True, default=None, help="Only records a reviewer accepted or edited."
)
@json_option
@click.pass_context
def create_cmd(ctx: click.Context, name: str, source: str | None, recipe: str | None, seed: int | None,
               force: bool | None, min_reviewed_fraction: float | None, acceptance_floor: float | None,
               require_human: bool | None, reviewed_only: bool | None, as_json: bool) -> None:  # fmt: skip
    """Freeze approved records (kept, not rejected, edits applied) as the next version of NAME."""
    from datagen.config import load_config
    from datagen.datasets import DatasetConfig, create_dataset, show_dataset

    run, src = _parse_from(source)
    overrides = {"name": name, "run": run, "source_dataset": src, "seed": seed, "force": force,
                 "min_reviewed_fraction": min_reviewed_fraction, "acceptance_floor": acceptance_floor,
                 "include_unreviewed": False if reviewed_only else None, "require_human": require_human}  # fmt: skip
    cfg = load_config(DatasetConfig, recipe, overrides, section="dataset" if recipe else None)
    store = store_from(ctx)
    name, version = create_dataset(store, cfg)
    info = show_dataset(store, name, version)
    if as_json:
        echo_json(info)
        return
    c = info["counts"]
    click.echo(
        f"created {name}@{version}: {c['total']} records, splits {c['splits']}, {c['clusters']} clusters"
    )
    if info["forced"]:
        click.echo("FORCED past the review gate: " + "; ".join(info["gate"]["failures"]))


@dataset_cmd.command("list")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """Every dataset version with its size, splits and gate."""
    from datagen.datasets import list_datasets

    rows = list_datasets(store_from(ctx))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no datasets yet: `datagen dataset create NAME --from run:N`")
    for r in rows:
        gate = "forced" if r["forced"] else ("gate ok" if r["gate_passed"] else "gate failed")
        click.echo(
            f"{r['name']}@{r['version']}\t{r['records']} records\t{r['splits']}\t{gate}\t{r['created_at']}"
        )


@dataset_cmd.command("show")
@click.argument("ref")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, ref: str, as_json: bool) -> None:
    """One dataset version (REF = NAME or NAME@VERSION): counts, source, gate."""
    import json

    from datagen.datasets import show_dataset

    info = show_dataset(store_from(ctx), ref)
    if as_json:
        echo_json(info)
        return
    click.echo(f"{info['name']}@{info['version']} (run {info['run_id']}, {info['created_at']})")
    click.echo(f"forced: {info['forced']}; gate passed: {info['gate'].get('passed')}")
    for f in info["gate"].get("failures", []):
        click.echo(f"  gate failure: {f}")
    click.echo("counts: " + json.dumps(info["counts"]))
    click.echo("source: " + json.dumps(info["source"], default=str))
