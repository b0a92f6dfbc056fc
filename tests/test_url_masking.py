"""No password in a URL reaches stdout, stderr, ``--json``, a log line or a stored run config; a database that
cannot be opened is one line and exit 2 on every command (the real PostgreSQL server where one is set up:
``DATAGEN_TEST_PG_URL=$(scripts/pg-for-tests.sh)``)."""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from datagen.store import open_store
from datagen.urls import masked, masked_data, masked_log_records
from tests.fake_api import FakeAPI
from tests.gen_fakes import write_seeds

ADMIN_URL = os.environ.get("DATAGEN_TEST_PG_URL", "")
needs_pg = pytest.mark.skipif(not ADMIN_URL, reason="no PostgreSQL server (set DATAGEN_TEST_PG_URL)")
SECRET = "Pw-7f3b-secret"  # a password that appears nowhere else


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("postgresql+psycopg://ann:Pw-7f3b-secret@db.example:5432/gen", "postgresql+psycopg://ann:***@db.example:5432/gen"),
        ("postgresql://ann:p%40ss%2Fw@host/gen", "postgresql://ann:***@host/gen"),
        ("postgresql://ann:p@ss@host/gen", "postgresql://ann:***@host/gen"),
        ("mysql+pymysql://:only-pw@host/gen", "mysql+pymysql://:***@host/gen"),
        ("postgresql://ann@host/gen?password=Pw-7f3b-secret&sslmode=require", "postgresql://ann@host/gen?password=***&sslmode=require"),
        ("https://user:Pw-7f3b-secret@proxy.example/v1", "https://user:***@proxy.example/v1"),
        ("cannot reach http://u:Pw-7f3b-secret@h:8000/v1 (timeout)", "cannot reach http://u:***@h:8000/v1 (timeout)"),
        ("postgresql://ann@host:5432/gen", "postgresql://ann@host:5432/gen"),
        ("postgresql://ann:@host/gen", "postgresql://ann:@host/gen"),
        ("http://host:8000/v1", "http://host:8000/v1"),
        ("sqlite:////tmp/a:b/datagen.db", "sqlite:////tmp/a:b/datagen.db"),
        ("no url here: key=value", "no url here: key=value"),
    ],
)  # fmt: skip
def test_masked(given: str, shown: str) -> None:
    assert masked(given) == shown


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://ann:Pw-7f3b-secret@db.example:5432/gen", "postgresql://ann:p%40ss@host/gen",
     "mysql+pymysql://root:x@127.0.0.1/db?charset=utf8mb4"],
)  # fmt: skip
def test_masked_agrees_with_sqlalchemy(url: str) -> None:
    assert masked(url) == make_url(url).render_as_string(hide_password=True)


def test_masked_data_and_log_records(caplog: pytest.LogCaptureFixture) -> None:
    data = {"options": {"base_url": f"http://u:{SECRET}@h/v1"}, "n": [1, f"x://a:{SECRET}@b"], "k": None}
    assert masked_data(data) == {
        "options": {"base_url": "http://u:***@h/v1"},
        "n": [1, "x://a:***@b"],
        "k": None,
    }
    masked_log_records()
    masked_log_records()  # idempotent: one factory, not a chain
    with caplog.at_level(logging.INFO):
        logging.getLogger("datagen.test").info("connecting to %s", f"postgresql://u:{SECRET}@h/db")
    assert caplog.records[-1].getMessage() == "connecting to postgresql://u:***@h/db"


@pytest.fixture
def pg_secret_url() -> Iterator[str]:
    """A database of its own, owned by a role whose password is ``SECRET`` (the admin role's password is its
    name, which the output shows as the user)."""
    if not ADMIN_URL:
        pytest.skip("no PostgreSQL server (set DATAGEN_TEST_PG_URL)")
    tag = uuid.uuid4().hex[:10]
    role, name = f"datagen_mask_{tag}", f"datagen_test_{tag}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}'"))
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER {role}'))
    url = make_url(ADMIN_URL).set(username=role, password=SECRET, database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
    admin.dispose()


# Every command that prints a database URL or reads one back (a run's config, the schema state), with --json too.
PRINTING = [
    (["db", "upgrade"], "postgresql+psycopg://{user}:***@"),
    (["db", "current"], "postgresql+psycopg://{user}:***@"),
    (["db", "current", "--json"], '"url": "postgresql+psycopg://{user}:***@'),
    (["runs"], "import"),
    (["runs", "--json"], '"kind": "import"'),
    (["runs", "--id", "1"], "import"),
    (["runs", "--id", "1", "--json"], '"kind": "import"'),
    (["stats"], "records by status"),
    (["stats", "--json"], '"by_status"'),
    (["show", "1", "--json"], '"instruction": "a task"'),
    (["dataset", "list", "--json"], "[]"),
]


@needs_pg
def test_no_command_prints_the_password(pg_secret_url: str, run_cli, tmp_path: Path) -> None:
    user = make_url(pg_secret_url).username
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps({"instruction": "a task", "output": "an answer"}) + "\n")
    r = run_cli("import", str(data), "--db", pg_secret_url)
    assert r.exit_code == 0, r.output
    store = open_store(pg_secret_url, upgrade=False)  # what `pipeline` prints as its database
    assert store.shown_url == pg_secret_url.replace(f":{SECRET}@", ":***@") and store.url == pg_secret_url
    store.close()
    for args, expected in PRINTING:
        for where in ("before", "after"):  # --db before the command, and after it
            argv = ["--db", pg_secret_url, *args] if where == "before" else [*args, "--db", pg_secret_url]
            r = run_cli(*argv)
            assert r.exit_code == 0, (args, r.output)
            assert expected.format(user=user) in r.stdout, (args, r.stdout)
            assert SECRET not in r.stdout + r.stderr, args


@pytest.mark.parametrize(
    "args",
    [["db", "current"], ["db", "current", "--json"], ["db", "upgrade"], ["runs"], ["runs", "--json"], ["stats"],
     ["show", "1"], ["import", "one.jsonl"], ["filter"], ["generate", "self-instruct", "--n", "1"],
     ["generate", "evol"], ["review", "stats"], ["review", "--run", "1", "--sheet", "s.csv"],
     ["review", "import", "one.jsonl"], ["dataset", "list"], ["dataset", "show", "x"], ["dataset", "create", "x"],
     ["export", "x", "--format", "jsonl"], ["train", "--dataset", "x"], ["score", "--train-run", "1"],
     ["compare", "--datasets", "a", "--datasets", "b"], ["worker", "--run", "1"], ["pipeline"]],
    ids=" ".join,
)  # fmt: skip
@needs_pg
def test_a_database_that_cannot_be_opened_is_one_line_and_exit_2(
    args: list[str], run_cli, tmp_path: Path
) -> None:
    Path("one.jsonl").write_text(json.dumps({"instruction": "a task", "output": "an answer"}) + "\n")
    admin = make_url(ADMIN_URL)
    cases = {  # what is wrong -> the end of the one line that says so
        admin.set(password=SECRET): f'password authentication failed for user "{admin.username}"',
        admin.set(database="datagen_no_such_db"): 'database "datagen_no_such_db" does not exist',
        admin.set(password=SECRET, port=_closed_port()): "Connection refused; Is the server running on that host and "
        "accepting TCP/IP connections?",
    }  # fmt: skip
    for url, reason in cases.items():
        r = run_cli(*args, "--db", url.render_as_string(hide_password=False))
        shown = url.render_as_string(hide_password=True)
        assert r.exit_code == 2, (args, r.output)
        assert r.stdout == ""
        assert r.stderr.startswith(f"error: cannot open the database {shown}: connection failed: "), r.stderr
        assert r.stderr.endswith(f"{reason}\n") and r.stderr.count("\n") == 1, r.stderr
        assert SECRET not in r.stderr and "Traceback" not in r.stderr


def _closed_port() -> int:
    with socket.socket() as s:  # a port nothing listens on: bound, then released
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("db", "message"),
    [
        ("afile/x.db", "error: database folder afile is not a folder\n"),
        ("nowhere/x.db", "error: database folder nowhere does not exist\n"),
        ("afile", "error: cannot open the database sqlite:///afile: file is not a database\n"),
        (".", "error: cannot open the database sqlite:///.: unable to open database file\n"),
        ("postgresql+nosuchdriver://u:" + SECRET + "@h/db",
         "error: database URL postgresql+nosuchdriver://u:***@h/db: Can't load plugin: "
         "sqlalchemy.dialects:postgresql.nosuchdriver (a SQLAlchemy URL or a SQLite file path)\n"),
    ],
)  # fmt: skip
@pytest.mark.parametrize(
    "args", [["db", "current"], ["db", "upgrade"], ["runs"], ["stats", "--json"]], ids=" ".join
)
def test_an_unreadable_sqlite_path_is_one_line_and_exit_2(
    db: str, message: str, args: list[str], run_cli
) -> None:
    Path("afile").write_text("not a database, and not a folder\n")
    r = run_cli(*args, "--db", db)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", message)


def test_a_url_with_a_password_in_a_recipe_is_stored_and_shown_masked(run_cli, tmp_path: Path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", [("Name a colour.", False), ("Is this positive?", True)])
    with FakeAPI() as api:
        base = api.openai_url.replace("://", f"://user:{SECRET}@")
        recipe = tmp_path / "r.yaml"
        recipe.write_text(
            f"provider: openai\nmodel: gpt-4o-mini\napi_key: sk-test\noptions:\n  base_url: {base}\n"
        )
        args = ["generate", "self-instruct", "--recipe", str(recipe), "--seeds", str(seeds), "--n", "1"]
        api.enqueue("401")
        failed = run_cli(*args, "--max-steps", "1", "--max-retries", "0")
        estimate = run_cli(*args, "--max-steps", "1", "--estimate", "--json")
    assert failed.exit_code == 1 and f"openai:gpt-4o-mini@{masked(base)}" in failed.stderr, failed.output
    assert estimate.exit_code == 0, estimate.output
    assert masked(base) == base.replace(SECRET, "***")
    runs = json.loads(run_cli("runs", "--json").stdout)
    generated = [d for d in (json.loads(run_cli("runs", "--id", str(r["id"]), "--json").stdout) for r in runs)
                 if d["kind"] == "generate"]  # fmt: skip
    assert [d["config"]["options"] for d in generated] == [{"base_url": masked(base)}] * 2
    shown = [run_cli("runs", "--id", str(r["id"])).output for r in runs]
    assert all(SECRET not in out for out in [failed.output, estimate.output, *shown])
    import sqlite3

    dump = "\n".join(sqlite3.connect(os.environ["DATAGEN_DB"]).iterdump())
    assert SECRET not in dump  # in no table: run configs, errors, request failures
