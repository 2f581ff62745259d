"""One membership per user and group: unique (user_id, group_id) on connections.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.create_unique_constraint("connections_user_id_group_id_unique", ["user_id", "group_id"])


def downgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.drop_constraint("connections_user_id_group_id_unique", type_="unique")
