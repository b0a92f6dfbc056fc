"""Opening the database: engine set-up (SQLite pragmas), automatic upgrade to head, short transactions.

SQLite runs in WAL mode with foreign keys on and a busy timeout. Every transaction starts with
``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout instead of failing with
"database is locked" when a reader upgrades to a writer. Keep transactions short: open, write a batch, commit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from datagen.errors import InputError
from datagen.urls import masked

DEFAULT_DB = "datagen.db"
BUSY_TIMEOUT_MS = 120_000
ROOT = Path(__file__).resolve().parents[2]


def resolve_url(db: str | None = None) -> str:
    """A database flag or DATAGEN_DB: a SQLAlchemy URL, or a path to a SQLite file."""
    db = db or os.environ.get("DATAGEN_DB") or DEFAULT_DB
    return db if "://" in db else f"sqlite:///{Path(db).expanduser()}"


def make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        if ":memory:" not in url:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache: random-key index inserts stay in memory
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def insert_new(s: Session, table: Any, index_elements: list[str]) -> Any:
    """``INSERT ... ON CONFLICT (index_elements) DO NOTHING`` for the session's database (SQLite or PostgreSQL):
    rows another process inserted first are left as they are, instead of failing the transaction. Add
    ``.returning(...)`` to learn which rows this statement stored."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=index_elements)


class Store:
    """A database handle: an engine, a session factory and the migration state.

    ``url`` is the real URL (a connection needs it; never print it); ``shown_url`` is the one to print or store,
    its password masked."""

    def __init__(self, url: str, *, upgrade: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if upgrade:
            from datagen.store.migrate import upgrade_to_head

            upgrade_to_head(self.engine)
        else:  # connect now, so that a wrong password or an unreachable server fails here, in one line
            with self.engine.connect():
                pass

    @property
    def shown_url(self) -> str:
        """The URL as it may be printed, logged or stored: the password masked."""
        return masked(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: commits on success, rolls back on any error (nothing half-written)."""
        with self._sessions() as s, s.begin():
            yield s

    def close(self) -> None:
        self.engine.dispose()


def open_store(db: str | None = None, *, upgrade: bool = True) -> Store:
    """The store at ``db`` (a URL or a SQLite path; default DATAGEN_DB, else ./datagen.db), connected once and,
    with ``upgrade``, at the newest schema. A database that cannot be opened (a wrong password, an unreachable
    server, no such database, an unreadable file) is an ``InputError`` of one line, the URL's password masked."""
    url = resolve_url(db)
    if url.startswith("sqlite:///") and ":memory:" not in url:
        parent = Path(url.removeprefix("sqlite:///")).parent
        if not parent.is_dir():
            state = "is not a folder" if parent.exists() else "does not exist"
            raise InputError(f"database folder {parent} {state}")
    from sqlalchemy import exc

    try:
        return Store(url, upgrade=upgrade)
    except (exc.ArgumentError, exc.NoSuchModuleError, ImportError, ValueError) as e:  # ValueError: a bad port
        raise InputError(
            f"database URL {masked(url)}: {one_line(str(e))} (a SQLAlchemy URL or a SQLite file path)"
        ) from None
    except exc.DBAPIError as e:  # not a database, a folder, an unreachable server, bad credentials
        raise InputError(f"cannot open the database {masked(url)}: {one_line(str(e.orig))}") from None


def one_line(text: str) -> str:
    """A driver's message (libpq's spans lines and indents its hints) as one line, its URLs masked."""
    lines = (" ".join(part.split()) for part in text.splitlines())
    return masked("; ".join(line for line in lines if line))
