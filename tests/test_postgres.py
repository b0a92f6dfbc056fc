"""The same store on PostgreSQL: migrations, import, concurrency and the whole pipeline, by changing the URL.

Runs when ``DATAGEN_TEST_PG_URL`` names a server where databases can be created (``make test`` starts the local
cluster through ``scripts/pg-for-tests.sh``, which installs PostgreSQL as root when missing); each test gets a database of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from datagen.store import Base, Record, Run, open_store
from datagen.store.migrate import current_revision, head_revision

ADMIN_URL = os.environ.get("DATAGEN_TEST_PG_URL", "")
pytestmark = pytest.mark.skipif(not ADMIN_URL, reason="no PostgreSQL server (set DATAGEN_TEST_PG_URL)")


@pytest.fixture
def pg_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"datagen_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("DATAGEN_DB", url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_to_head_without_drift(pg_url: str) -> None:
    store = open_store(pg_url)
    assert current_revision(store.engine) == head_revision()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    store.close()


def test_import_reimport_and_two_processes(pg_url: str, tmp_path: Path, run_cli) -> None:
    files = []
    for k in range(2):
        path = tmp_path / f"f{k}.jsonl"
        path.write_text(
            "".join(json.dumps({"instruction": f"p{k} task {i}", "output": "o"}) + "\n" for i in range(2000))
        )
        files.append(path)
    r = run_cli("import", str(files[0]), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["imported"] == 2000
    r = run_cli("import", str(files[0]), "--json")
    assert (json.loads(r.stdout)["imported"], json.loads(r.stdout)["already_present"]) == (0, 2000)
    env = {**os.environ, "DATAGEN_DB": pg_url, "DATAGEN_PROGRESS": "0"}
    procs = [subprocess.Popen([sys.executable, "-m", "datagen", "import", str(f)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for f in files]  # fmt: skip
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    store = open_store(pg_url)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 4000
        assert s.scalar(select(func.count()).select_from(Run)) == 4
    store.close()


@pytest.mark.slow
def test_pipeline_end_to_end_on_postgres(pg_url: str, tmp_path: Path, run_cli) -> None:
    from tests.fake_api import FakeAPI
    from tests.test_pipeline import recipe, teacher

    with FakeAPI(responder=teacher()) as api:  # type: ignore[arg-type]
        r = run_cli("pipeline", "--recipe", str(recipe(tmp_path, api)), "--review", "auto", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["database"].startswith("postgresql")
    assert result["stages"]["dataset"]["ref"] == "tiny@1"
    # the reference metrics always; a win-rate only when the judge passes its sanity check
    scores = set(result["stages"]["score"]["scores"]) - {"win_rate"}
    assert scores == {"perplexity", "rouge_l", "embedding_similarity", "exact_match", "hit_max_new_tokens"}
