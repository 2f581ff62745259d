"""An index of a group's memberships by role, in joining order.

Every room socket's snapshot lists the group's hosts first (``queries.present_members``), and the
vote count and the host watch read them too. Without this index the database read every
membership of the group to find its two or three hosts: 82 µs per snapshot in a room of 1000, and
O(N) per phone joining, so O(N²) for a join storm; with it, 5 µs whatever the room's size.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("idx_connections_group_id_role", "connections", ["group_id", "role", "joined_at"])


def downgrade() -> None:
    op.drop_index("idx_connections_group_id_role", table_name="connections")
