"""An index of a group's memberships in joining order.

Every room socket's snapshot lists the first members present in joining order
(``queries.present_members``); with this index SQLite and PostgreSQL read them in order and stop
at the page, where they sorted every membership of the group for each phone that joined.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("idx_connections_group_id_joined_at", "connections", ["group_id", "joined_at"])


def downgrade() -> None:
    op.drop_index("idx_connections_group_id_joined_at", table_name="connections")
