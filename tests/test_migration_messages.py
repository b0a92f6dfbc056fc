"""Migration 0006 (``records.messages``) on SQLite and PostgreSQL: a database at 0005 with records upgrades and
keeps them (no turns: single-turn records), conversations import into it, and the step goes back down."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

from datagen.import_config import ImportConfig
from datagen.importer import import_file
from datagen.store import Record, open_store
from datagen.store.migrate import alembic_config, current_revision
from tests.test_postgres import pg_url  # noqa: F401 (the fixture: a database of its own on the server)

TURNS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Name a colour."},
    {"role": "assistant", "content": "Blue."},
    {"role": "user", "content": "Another one?"},
    {"role": "assistant", "content": "Red."},
]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, fresh_db: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{fresh_db}"
        return
    if not os.environ.get("DATAGEN_TEST_PG_URL"):
        pytest.skip("no PostgreSQL server (set DATAGEN_TEST_PG_URL)")
    yield request.getfixturevalue("pg_url")


def test_0006_upgrades_a_database_with_records_and_goes_back_down(url: str, tmp_path: Path) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), "0005")
    engine = create_engine(url)
    with engine.begin() as conn:
        run_id = conn.execute(
            text(
                "INSERT INTO runs (kind, status, config, code_version, started_at, counters) VALUES "
                "('import', 'succeeded', '{}', 'old', '2026-12-01 00:00:00', '{}') RETURNING id"
            )
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO records (uid, run_id, method, round, instruction, input, output, status, content_hash,"
                " meta, created_at) VALUES ('old-1', :run, 'import', 0, 'Say hi.', '', 'Hi!', 'generated', 'h',"
                " '{}', '2026-12-01 00:00:00')"
            ),
            {"run": run_id},
        )
    assert "messages" not in {c["name"] for c in inspect(engine).get_columns("records")}
    engine.dispose()

    store = open_store(url)  # upgrades to head on first use
    assert current_revision(store.engine) >= "0006"
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"messages": TURNS}) + "\n", encoding="utf-8")
    import_file(store, ImportConfig(path=str(path)))
    with store.session() as s:
        rows = [
            (r.uid, r.instruction, r.output, r.messages)
            for r in s.scalars(select(Record).order_by(Record.id))
        ]
    assert rows[0] == ("old-1", "Say hi.", "Hi!", None)
    assert rows[1][1:] == ("Name a colour.", "Red.", TURNS)
    store.close()

    command.downgrade(alembic_config(url), "0005")
    engine = create_engine(url)
    assert "messages" not in {c["name"] for c in inspect(engine).get_columns("records")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM records")).scalar_one() == 2
    engine.dispose()
