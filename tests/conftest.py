"""Shared fixtures: every test gets a fresh database and runs offline with one thread."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_configure(config: pytest.Config) -> None:
    """In CI the PostgreSQL tests must run, not skip: ``make test`` installs and starts the server
    (scripts/pg-for-tests.sh); when it could not, the run stops here with the reason's log."""
    if os.environ.get("CI") and not os.environ.get("DATAGEN_TEST_PG_URL"):
        raise pytest.UsageError(
            "CI is set but DATAGEN_TEST_PG_URL is empty: scripts/pg-for-tests.sh could not install or start "
            "PostgreSQL (see its message above and /tmp/pg-for-tests.log); the PostgreSQL tests must run in CI"
        )


@pytest.fixture(autouse=True)
def fresh_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "test.db"
    monkeypatch.setenv("DATAGEN_DB", str(db))
    monkeypatch.chdir(tmp_path)
    return db


@pytest.fixture
def store(fresh_db: Path) -> Iterator[object]:
    from datagen.store import open_store

    s = open_store(str(fresh_db))
    yield s
    s.close()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """Drive the CLI in-process through ``datagen.cli.main`` (the same error handling as the console script)."""
    from datagen.cli import main

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return invoke


@pytest.fixture(scope="module")
def ray_local() -> Iterator[tuple[str, str]]:
    """A local Ray instance (2 CPUs) for one test module: (its address, its temp folder)."""
    from tests.ray_local import local_ray

    with local_ray() as instance:
        yield instance


@pytest.fixture
def ray_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray looks uninstalled to ``datagen.ray_cluster.require_ray``."""
    import importlib.util

    from datagen import ray_cluster

    real = importlib.util.find_spec
    monkeypatch.setattr(
        ray_cluster.importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("ray") else real(name, *a),
    )
