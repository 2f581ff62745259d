"""Ids never reused on SQLite, and the answers of durable client commands.

- ``tracks`` and ``user_credentials`` are rebuilt on SQLite with ``AUTOINCREMENT`` (a batch
  recreate: every row, column, constraint name and index kept as before). Without it SQLite hands
  the id of a deleted last row to the next insert, so a stale ``remove``/``move``/``skip`` naming a
  removed track could act on a newer one. PostgreSQL's sequences never reuse ids: nothing to do.
- ``command_results``: the answer of each durable client command, written in the command's own
  transaction, so that a retried command id is answered, not applied again.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTOINCREMENT_TABLES = ("tracks", "user_credentials")


def _set_sqlite_autoincrement(on: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in AUTOINCREMENT_TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": on}):
            pass


def upgrade() -> None:
    _set_sqlite_autoincrement(True)
    op.create_table(
        "command_results",
        sa.Column("user_id", sa.CHAR(32), nullable=False),
        sa.Column("group_id", sa.CHAR(32), nullable=False),
        sa.Column("command_id", sa.String(64), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="command_results_user_id_fkey"),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name="command_results_group_id_fkey"),
        sa.PrimaryKeyConstraint("user_id", "group_id", "command_id", name="command_results_pk"),
    )
    op.create_index("idx_command_results_created_at", "command_results", ["created_at"])


def downgrade() -> None:
    op.drop_index("idx_command_results_created_at", table_name="command_results")
    op.drop_table("command_results")
    _set_sqlite_autoincrement(False)
