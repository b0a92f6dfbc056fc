"""Command-line habits: a mistyped command names the closest one, root options work after the subcommand, and
a missing or bad value names the flag as the user types it (exact messages and exit codes)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from datagen.cli import LazyGroup, cli
from datagen.commands.group import Group, hoist_root_options


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["filtr"], "No such command 'filtr'. Did you mean 'filter'?"),
        (["exprt", "x"], "No such command 'exprt'. Did you mean 'export'?"),
        (["--db", "x.db", "stast"], "No such command 'stast'. Did you mean 'stats'?"),
        (["review", "exprt-sheet"], "No such command 'exprt-sheet'. Did you mean 'export-sheet'?"),
        (["db", "upgrad"], "No such command 'upgrad'. Did you mean 'upgrade'?"),
        (["dataset", "craete", "x"], "No such command 'craete'. Did you mean 'create'?"),
        (["generate", "evoll"], "No such command 'evoll'. Did you mean 'evol'?"),
        (["frobnicate"], "No such command 'frobnicate'."),
    ],
)
def test_a_mistyped_command_names_the_closest_one(argv: list[str], error: str, run_cli) -> None:
    r = run_cli(*argv)
    assert (r.exit_code, r.stdout, r.stderr.splitlines()[-1]) == (2, "", f"Error: {error}")


def _groups(group: click.Group, ctx: click.Context) -> list[click.Group]:
    out = [group]
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            out += _groups(cmd, ctx)
    return out


def test_every_group_suggests() -> None:
    groups = _groups(cli, click.Context(cli))
    assert isinstance(cli, LazyGroup) and len(groups) == 5  # the root, db, dataset, generate, review
    assert all(isinstance(g, Group) for g in groups), [g.name for g in groups if not isinstance(g, Group)]


@click.group(cls=type("Root", (Group,), {"parse_args": lambda self, ctx, args: Group.parse_args(
    self, ctx, hoist_root_options(self, ctx, args))}))  # fmt: skip
@click.option("--db")
@click.option("--quiet", is_flag=True)
@click.option("--log-json", type=click.Path())
@click.version_option("1")
@click.pass_context
def toy(ctx: click.Context, db: str | None, quiet: bool, log_json: str | None) -> None:
    ctx.obj = {"root": (db, quiet, log_json)}


@toy.command("run")
@click.option("--quiet", is_flag=True, help="This command's own --quiet.")
@click.option("--note")
@click.argument("things", nargs=-1)
@click.pass_context
def toy_run(ctx: click.Context, quiet: bool, note: str | None, things: tuple[str, ...]) -> None:
    click.echo(json.dumps({"root": ctx.obj["root"], "quiet": quiet, "note": note, "things": things}))


@toy.group("sub", cls=Group)
@click.option("--level", type=int)
def toy_sub(level: int | None) -> None:
    pass


@toy_sub.command("leaf")
@click.argument("x", required=False)
@click.pass_context
def toy_leaf(ctx: click.Context, x: str | None) -> None:
    click.echo(json.dumps({"root": ctx.obj["root"], "x": x}))


@pytest.mark.parametrize(
    ("args", "hoisted"),
    [
        (["run", "--db", "a.db"], ["--db", "a.db", "run"]),
        (["run", "--db=a.db", "t1"], ["--db=a.db", "run", "t1"]),
        (["--db", "a.db", "run", "--log-json", "ev.jsonl"], ["--db", "a.db", "--log-json", "ev.jsonl", "run"]),
        (["run", "--quiet", "--db", "a.db"], ["--db", "a.db", "run", "--quiet"]),  # run's own --quiet stays
        (["run", "--note", "--db", "t1"], ["run", "--note", "--db", "t1"]),  # a value, not the root's option
        (["run", "t1", "--", "--db", "x"], ["run", "t1", "--", "--db", "x"]),  # after --: arguments
        (["sub", "--level", "2", "--db", "a.db", "leaf", "--quiet"],
         ["--db", "a.db", "--quiet", "sub", "--level", "2", "leaf"]),  # leaf has no --quiet: the root's
        (["sub", "leaf", "--version"], ["sub", "leaf", "--version"]),  # eager options stay
        (["nosuch", "--db", "a.db"], ["nosuch", "--db", "a.db"]),
    ],
)  # fmt: skip
def test_root_options_move_before_the_subcommand(args: list[str], hoisted: list[str]) -> None:
    assert hoist_root_options(toy, click.Context(toy), args) == hoisted


@pytest.mark.parametrize(
    ("args", "seen"),
    [
        (["run", "--db", "a.db", "--quiet", "--log-json", "e.jsonl"],
         {"root": ["a.db", False, "e.jsonl"], "quiet": True, "note": None, "things": []}),
        (["sub", "leaf", "v", "--quiet", "--db", "b.db"], {"root": ["b.db", True, None], "x": "v"}),
    ],
)  # fmt: skip
def test_root_options_after_the_subcommand_reach_the_root(args: list[str], seen: dict[str, object]) -> None:
    from click.testing import CliRunner

    r = CliRunner().invoke(toy, args)
    assert (r.exit_code, json.loads(r.output)) == (0, seen)


def test_every_root_option_of_datagen_works_after_any_subcommand() -> None:
    """Whatever options the root has now or gains later (``--db``, ``--quiet``, ``--log-json FILE``, ...)."""
    ctx = click.Context(cli)
    options = [p for p in cli.params if isinstance(p, click.Option) and not p.is_eager]
    assert "--db" in [o.opts[0] for o in options]
    for opt in options:
        given = [opt.opts[0]] + ([] if opt.is_flag or opt.count else ["VALUE"] * max(opt.nargs, 1))
        for command in (["runs", "--json"], ["db", "current"], ["review", "export-sheet", "s.csv"]):
            assert hoist_root_options(cli, ctx, [*command, *given]) == [*given, *command], (opt.opts, command)


def test_a_root_option_without_its_value_is_a_usage_error(run_cli) -> None:
    r = run_cli("runs", "--db")
    assert (r.exit_code, r.stderr.splitlines()[-1]) == (2, "Error: Option '--db' requires an argument.")


def test_db_after_the_subcommand_is_the_database_used(run_cli, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    data = tmp_path / "a.jsonl"
    data.write_text(json.dumps({"instruction": "Name a colour.", "output": "Red."}) + "\n")
    assert run_cli("import", str(data), "--db", str(other)).exit_code == 0
    r = run_cli("runs", "--json", "--db", str(other))
    assert [(x["id"], x["kind"]) for x in json.loads(r.stdout)] == [(1, "import")]
    r = run_cli("filter", "--db", str(other), "--only", "heuristics", "--no-png", "--json")
    assert (r.exit_code, json.loads(r.stdout)["records"]) == (0, 1), r.output
    r = run_cli("db", "current", "--db", str(other))
    assert r.stdout.startswith(f"sqlite:///{other}: current ")
    assert json.loads(run_cli("runs", "--json").stdout) == []  # the default database saw none of it


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["train"], "missing --dataset"),
        (["export", "x"], "missing --format"),
        (["score"], "missing --train-run"),
        (["compare"], "missing --datasets"),
        (["train", "--recipe", "recipe.yaml"], "missing --dataset (or 'dataset' in recipe.yaml)"),
        (["train", "--dataset", "x", "--lr", "-1"], "--lr: Input should be greater than 0 (got -1.0)"),
        (["train", "--dataset", "x", "--learning-rate=-1"], "--learning-rate: Input should be greater than 0 (got -1.0)"),
        (["generate", "self-instruct", "--n", "0"], "--n: Input should be greater than or equal to 1 (got 0)"),
        (["generate", "evol", "--weight", "breadth=x"],
         "--weight: Input should be a valid number, unable to parse string as a number (got 'x')"),
        (["filter", "--batch-size", "0"], "--batch-size: Input should be greater than or equal to 1 (got 0)"),
        (["filter", "--run", "1", "--all"],
         "a run_id filters one run, not scope 'all': use either --run ID or --all, not both"),
        (["export", "x", "--format", "jsonl", "--private"],
         "private applies to the repo --push-to-hub creates: give --push-to-hub OWNER/NAME"),
        (["train", "--recipe", "bad.yaml", "--lr", "2"], "learning_rate: Input should be greater than 0 in bad.yaml (got -1)"),
        (["train", "--recipe", "bad.yaml", "--dataset", "x", "--epochs", "0"],
         "learning_rate: Input should be greater than 0 in bad.yaml (got -1)"),
        (["train", "--recipe", "recipe.yaml", "--dataset", "x", "--epochs", "0"],
         "--epochs: Input should be greater than 0 (got 0.0)"),
        (["train", "--recipe", "typo.yaml"], "unknown key 'lr' in typo.yaml"),
    ],
)  # fmt: skip
def test_missing_and_bad_values_name_the_flag(argv: list[str], error: str, run_cli) -> None:
    Path("recipe.yaml").write_text("learning_rate: 0.001\n")
    Path("bad.yaml").write_text("learning_rate: -1\n")
    Path("typo.yaml").write_text("lr: 0.1\n")
    r = run_cli(*argv)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", f"error: {error}\n")
    assert json.loads(run_cli("runs", "--json").stdout) == []  # refused before any run row


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["export"], "Missing argument 'DATASET'."),
        (["import"], "Missing argument 'PATH'."),
        (["dataset", "create"], "Missing argument 'NAME'."),
        (["worker"], "Missing option '--run'."),
        (["score", "--train-run", "x"], "Invalid value for '--train-run': 'x' is not a valid integer."),
    ],
)
def test_click_usage_errors_name_the_flag_too(argv: list[str], error: str, run_cli) -> None:
    r = run_cli(*argv)
    assert (r.exit_code, r.stdout, r.stderr.splitlines()[-1]) == (2, "", f"Error: {error}")


def test_a_mistyped_option_names_the_closest_ones(run_cli) -> None:
    r = run_cli("train", "--datset", "x")  # click's own suggestion (its wording varies across click versions)
    assert r.exit_code == 2 and "--datset" in r.stderr and "--dataset" in r.stderr.splitlines()[-1]
