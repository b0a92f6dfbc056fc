"""Modules small enough to read in one sitting, commands that fit on a screen."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = sorted(p for pkg in ("datagen", "filters", "finetune") for p in (ROOT / pkg).rglob("*.py"))
COMMANDS = sorted((ROOT / "datagen" / "commands").glob("*.py"))


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_product_module_over_400_lines(path: Path) -> None:
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= 400, f"{path.relative_to(ROOT)} has {n} lines: split it by concept"


def _command_functions(path: Path) -> list[ast.FunctionDef]:
    """Functions decorated as click commands (``@click.command``, ``@group.command``, ``@click.group``)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(d, ast.Call)
            and isinstance(d.func, ast.Attribute)
            and d.func.attr in ("command", "group")
            for d in node.decorator_list
        ):
            out.append(node)
    return out


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: p.name)
def test_no_command_function_over_40_lines(path: Path) -> None:
    for fn in _command_functions(path):
        n = (fn.end_lineno or fn.lineno) - fn.lineno + 1
        assert n <= 40, f"{path.name}: {fn.name} is {n} lines: move the work into the library"


def test_the_size_checks_see_the_commands() -> None:
    assert sum(len(_command_functions(p)) for p in COMMANDS) >= 15
