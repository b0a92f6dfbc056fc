"""Where prompts/, migrations/, alembic/ and alembic.ini are found: the checkout's top-level folders here, a wheel's
``datagen/_resources/`` copies when installed (scripts/wheel-smoke.sh checks a real wheel end to end)."""

from __future__ import annotations

from pathlib import Path

import pytest

from datagen import resources
from datagen.resources import NAMES, resource_path

ROOT = Path(__file__).resolve().parents[1]


def test_a_checkout_uses_its_top_level_folders() -> None:
    assert {name: resource_path(name) for name in NAMES} == {name: ROOT / name for name in NAMES}


def test_an_installed_copy_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "datagen" / "_resources" / "prompts").mkdir(parents=True)
    monkeypatch.setattr(resources, "files", lambda package: tmp_path / package)
    resource_path.cache_clear()
    try:
        assert resource_path("prompts") == tmp_path / "datagen" / "_resources" / "prompts"
        assert resource_path("migrations") == ROOT / "migrations"  # not in that copy: the checkout's
    finally:
        resource_path.cache_clear()


def test_an_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown resource"):
        resource_path("tests")


def test_alembic_needs_no_ini_file_and_finds_every_migration() -> None:
    from alembic.script import ScriptDirectory

    from datagen.store.migrate import alembic_config

    cfg = alembic_config("sqlite:///x.db")
    assert cfg.config_file_name is None
    scripts = {Path(s.path).name for s in ScriptDirectory.from_config(cfg).walk_revisions()}
    assert scripts == {p.name for p in (ROOT / "migrations").glob("*.py")}


def test_setup_py_ships_what_resources_looks_for() -> None:
    import ast

    tree = ast.parse((ROOT / "setup.py").read_text())
    shipped = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "RESOURCES"
    )
    assert tuple(shipped) == NAMES
