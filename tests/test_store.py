"""The store: migrations to head, no drift, refusal of newer schemas, SQLite settings, status changes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select

from datagen.errors import DatagenError
from datagen.store import Base, Record, Run, open_store
from datagen.store import status as st
from datagen.store.migrate import NewerSchemaError, current_revision, head_revision


def test_empty_database_upgrades_to_head(fresh_db: Path) -> None:
    store = open_store(str(fresh_db))
    assert current_revision(store.engine) == head_revision()
    tables = set(inspect(store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_a_database_at_an_older_revision_upgrades_on_first_use_and_keeps_its_data(fresh_db: Path) -> None:
    from alembic import command

    from datagen.store.migrate import alembic_config

    url = f"sqlite:///{fresh_db}"
    command.upgrade(alembic_config(url), "0001")  # as the first release left it
    with sqlite3.connect(fresh_db) as db:
        db.execute("INSERT INTO runs (kind, status, config, code_version, started_at, counters) "
                   "VALUES ('import', 'succeeded', '{}', 'old', '2026-11-29 00:00:00', '{}')")  # fmt: skip
    assert "remote_batches" not in inspect(create_engine(url)).get_table_names()
    store = open_store(str(fresh_db))
    assert current_revision(store.engine) == head_revision() != "0001"
    assert "remote_batches" in inspect(store.engine).get_table_names()
    with store.session() as s:
        assert [r.code_version for r in s.scalars(select(Run))] == ["old"]


def test_models_and_migrations_do_not_drift(fresh_db: Path) -> None:
    store = open_store(str(fresh_db))
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_records_columns_are_as_designed(fresh_db: Path) -> None:
    store = open_store(str(fresh_db))
    cols = {c["name"] for c in inspect(store.engine).get_columns("records")}
    assert {
        "id",
        "uid",
        "run_id",
        "parent_id",
        "method",
        "operation",
        "round",
        "instruction",
        "input",
        "output",
        "status",
        "template_name",
        "template_sha256",
        "provider",
        "model",
        "params",
        "request_hash",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "latency_s",
        "raw",
        "meta",
        "created_at",
    } <= cols


def test_sqlite_runs_in_wal_with_foreign_keys(fresh_db: Path) -> None:
    store = open_store(str(fresh_db))
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30_000


def test_database_from_a_newer_version_is_refused_untouched(fresh_db: Path, run_cli) -> None:
    open_store(str(fresh_db)).close()
    con = sqlite3.connect(fresh_db)
    con.execute("UPDATE alembic_version SET version_num = '9999_future'")
    con.commit()
    con.close()
    with pytest.raises(NewerSchemaError, match="newer version"):
        open_store(str(fresh_db))
    result = run_cli("runs")
    assert result.exit_code == 2
    assert "9999_future" in result.stderr and "newer version" in result.stderr
    r = run_cli("db", "current", "--json")  # reports it, still touching nothing
    assert r.exit_code == 0 and json.loads(r.stdout)["newer"] is True
    assert "written by a newer datagen" in run_cli("db", "current").stdout
    con = sqlite3.connect(fresh_db)
    assert con.execute("SELECT version_num FROM alembic_version").fetchone() == ("9999_future",)


def test_db_current_and_upgrade_commands(fresh_db: Path, run_cli) -> None:
    r = run_cli("db", "current", "--json")
    assert r.exit_code == 0 and '"current": null' in r.stdout
    assert run_cli("db", "upgrade").exit_code == 0
    r = run_cli("db", "current", "--json")
    assert f'"current": "{head_revision()}"' in r.stdout and '"up_to_date": true' in r.stdout


def test_failed_transaction_writes_nothing(store) -> None:
    with pytest.raises(RuntimeError), store.session() as s:
        s.add(Run(kind="import", config={}))
        s.flush()
        raise RuntimeError("boom")
    with store.session() as s:
        assert s.scalars(select(Run)).all() == []


def _record(s, run_id: int, i: int, status: str = "generated") -> Record:
    r = Record(
        uid=f"u{i}", run_id=run_id, method="import", instruction=f"i{i}", content_hash=f"h{i}", status=status
    )
    s.add(r)
    return r


def test_status_changes_follow_the_funnel(store) -> None:
    with store.session() as s:
        run = Run(kind="import", config={})
        s.add(run)
        s.flush()
        recs = [_record(s, run.id, i) for i in range(4)]
        s.flush()
        ids = [r.id for r in recs]
    with store.session() as s:
        assert st.mark_filtered(s, kept=ids[:3], dropped=ids[3:]) == (3, 1)
        assert st.approve(s, ids[:1]) == 1
        assert st.reject(s, ids[1:2]) == 1
        # A filter never overwrites a human decision.
        assert st.mark_filtered(s, kept=[], dropped=ids[:2]) == (0, 0)
    with store.session() as s:
        got = {r.id: r.status for r in s.scalars(select(Record))}
    assert [got[i] for i in ids] == ["approved", "rejected", "candidate", "filtered_out"]
    with store.session() as s:
        rec = s.get(Record, ids[0])
        with pytest.raises(DatagenError, match="approved"):
            st.require(rec, "candidate")


def test_stats_reports_what_was_paid_not_the_sum_over_records(store, run_cli) -> None:
    from datagen.store.models import Completion, Payment

    with store.session() as s:
        run = Run(kind="generate", config={}, counters={})
        s.add(run)
        s.flush()
        s.add(Completion(key="k", provider="openai", model="m", request={}, text="t", prompt_tokens=3,
                         completion_tokens=4, cost_usd=0.5, latency_s=0.1))  # fmt: skip
        s.add(Payment(run_id=run.id, key="k", provider="openai", model="m", prompt_tokens=3, completion_tokens=4,
                      cost_usd=0.5, stored=True))  # fmt: skip
        for i in range(2):  # one response fed two records: each carries its cost
            s.add(Record(uid=f"u{i}", run_id=run.id, method="evol_instruct", instruction=f"i{i}",
                         content_hash=f"h{i}", cost_usd=0.5, prompt_tokens=3, completion_tokens=4))  # fmt: skip
        run_id = run.id
    everything = json.loads(run_cli("stats", "--json").stdout)
    assert (everything["records"], everything["cost_usd"], everything["prompt_tokens"]) == (2, 0.5, 3)
    one_run = json.loads(run_cli("stats", "--run", str(run_id), "--json").stdout)
    assert (one_run["records"], one_run["cost_usd"], one_run["completion_tokens"]) == (2, 0.5, 4)
    assert "paid: $0.5000  tokens: 3 in / 4 out  answers: 1" in run_cli("stats").stdout


def test_the_ledger_starts_with_what_was_cached_before_it(fresh_db: Path) -> None:
    from alembic import command

    from datagen.store.migrate import alembic_config
    from datagen.store.models import Payment

    command.upgrade(alembic_config(f"sqlite:///{fresh_db}"), "0002")
    with sqlite3.connect(fresh_db) as db:
        db.execute("INSERT INTO completions (key, provider, model, request, text, prompt_tokens, completion_tokens, "
                   "cost_usd, latency_s, created_at) VALUES ('k', 'openai', 'm', '{}', 't', 3, 4, 0.25, 0.1, "
                   "'2026-11-29 00:00:00')")  # fmt: skip
    store = open_store(str(fresh_db))
    with store.session() as s:
        [p] = s.scalars(select(Payment)).all()
        assert (p.key, p.run_id, p.cost_usd, p.prompt_tokens, p.completion_tokens, p.stored) == (
            "k", None, 0.25, 3, 4, True
        )  # fmt: skip


@pytest.mark.parametrize(
    ("db", "message"),
    [
        ("notadb.db", "cannot open the database sqlite:///notadb.db: file is not a database"),
        (".", "cannot open the database sqlite:///.: unable to open database file"),
        ("foo://bar", "database URL foo://bar: Can't load plugin"),
        ("mysql://u:pw@x/y", "database URL mysql://u:***@x/y: No module named"),
    ],
)
def test_a_database_that_cannot_be_opened_is_a_clear_input_error(tmp_path, monkeypatch, run_cli, db, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notadb.db").write_bytes(b"this is not a database " * 10)
    r = run_cli("--db", db, "runs")
    assert r.exit_code == 2 and message in r.stderr and "Traceback" not in r.stderr
