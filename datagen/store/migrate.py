"""Alembic glue: upgrade to head on first use; refuse a database written by a newer datagen."""

from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from datagen import __version__
from datagen.errors import DatagenError
from datagen.resources import resource_path
from datagen.urls import masked


class NewerSchemaError(DatagenError):
    exit_code = 2


def alembic_config(url: str | None = None) -> Config:
    """Alembic's settings, built here rather than read from ``alembic.ini`` (which ships for the ``alembic``
    command line): the environment in ``alembic/``, the version scripts in ``migrations/``, wherever
    ``datagen.resources`` finds them (a checkout or an installed wheel)."""
    cfg = Config()
    cfg.set_main_option("path_separator", "os")  # paths may hold spaces or commas; os.pathsep never does here
    cfg.set_main_option("script_location", str(resource_path("alembic")).replace("%", "%%"))
    cfg.set_main_option("version_locations", str(resource_path("migrations")).replace("%", "%%"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def is_known(rev: str | None) -> bool:
    """Whether this datagen has revision ``rev`` (None: an empty database)."""
    script = ScriptDirectory.from_config(alembic_config())
    return rev is None or rev in {s.revision for s in script.walk_revisions()}


def check_not_newer(engine: Engine) -> str | None:
    rev = current_revision(engine)
    if not is_known(rev):
        raise NewerSchemaError(
            f"database {masked(engine.url.render_as_string(hide_password=False))} is at schema revision {rev}, which this datagen ({__version__}) does not know: "
            "it was written by a newer version. Upgrade datagen (or use another database); nothing was changed."
        )
    return rev


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database to head in one transaction (no-op when already there)."""
    if check_not_newer(engine) == head_revision():
        return
    from alembic import command

    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
