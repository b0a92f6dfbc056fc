"""run leases, the payments ledger, failed requests

Runs get a lease (host, pid, heartbeat) so a run whose process died is told apart from a live one. Every paid
answer gets a row in ``payments``, written with the cache row in one transaction; the answers cached before
this revision become its first rows (run unknown). Requests that failed after their retries are kept in
``request_failures`` with the reason.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    payments = op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("stored", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_payments_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    assert payments is not None
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_key"), ["key"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_run_id"), ["run_id"], unique=False)
    op.create_table(
        "request_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_request_failures_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_failures")),
    )
    with op.batch_alter_table("request_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_failures_key"), ["key"], unique=False)
        batch_op.create_index(batch_op.f("ix_request_failures_run_id"), ["run_id"], unique=False)
    # What was cached before the ledger existed was paid once each: those are its first rows.
    completions = sa.table(
        "completions",
        *(sa.column(c) for c in ("key", "provider", "model", "prompt_tokens", "completion_tokens")),
        sa.column("cost_usd"),
        sa.column("created_at"),
    )
    cols = ["key", "provider", "model", "prompt_tokens", "completion_tokens", "cost_usd", "created_at"]
    op.execute(
        payments.insert().from_select(
            [*cols, "stored"], sa.select(*(completions.c[c] for c in cols), sa.true())
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("request_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_failures_run_id"))
        batch_op.drop_index(batch_op.f("ix_request_failures_key"))
    op.drop_table("request_failures")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_run_id"))
        batch_op.drop_index(batch_op.f("ix_payments_key"))
    op.drop_table("payments")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("pid")
        batch_op.drop_column("host")
