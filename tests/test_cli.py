"""The CLI: instant help, every command has help and is documented in the README, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from datagen.cli import COMMANDS, LazyGroup, cli

ROOT = Path(__file__).resolve().parents[1]


def _all_commands() -> list[tuple[str, click.Command]]:
    out = []
    group = cli
    assert isinstance(group, LazyGroup)
    ctx = click.Context(group)
    for name in COMMANDS:
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        out.append((name, cmd))
        if isinstance(cmd, click.Group):
            out.extend((f"{name} {sub}", c) for sub, c in cmd.commands.items())
    return out


@pytest.mark.parametrize(("name", "cmd"), _all_commands(), ids=[n for n, _ in _all_commands()])
def test_every_command_has_help_and_is_in_the_readme(name: str, cmd: click.Command, run_cli) -> None:
    assert (cmd.help or "").strip(), f"{name} has no help text"
    r = run_cli(*name.split(), "--help")
    assert r.exit_code == 0 and "Usage:" in r.stdout
    assert f"datagen {name}" in (ROOT / "README.md").read_text(), (
        f"`datagen {name}` is not documented in README.md"
    )


HEAVY = ("torch", "transformers", "trl", "peft", "sentence_transformers", "faiss", "sqlalchemy", "datasets")


def test_help_imports_nothing_heavy() -> None:
    """`datagen --help` and every command's module import none of the heavy libraries (they load lazily)."""
    code = (
        "import sys, importlib\n"
        "from datagen.cli import COMMANDS, main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "for target, _ in COMMANDS.values():\n    importlib.import_module(target.split(':')[0])\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_usage_error_exits_2(run_cli) -> None:
    assert run_cli("no-such-command").exit_code == 2
    assert run_cli("import").exit_code == 2
    assert run_cli("show", "12345").exit_code == 2  # no such record: input error
