"""evaluation sets: held-out tasks stored by content hash; scores name the set they were measured on

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "eval_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_sets")),
        sa.UniqueConstraint("content_hash", name=op.f("uq_eval_sets_content_hash")),
    )
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("eval_set_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_scores_eval_set_id"), ["eval_set_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_scores_eval_set_id_eval_sets"), "eval_sets", ["eval_set_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_scores_eval_set_id_eval_sets"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_scores_eval_set_id"))
        batch_op.drop_column("eval_set_id")
    op.drop_table("eval_sets")
