"""Invites with a role and a use limit, the listener role, and who hosts a room.

- ``groupqr.role`` / ``max_uses`` / ``uses``: the QR invite's role (the role a join through it
  gets, ``member`` as before) and its use limit (NULL: none), counted atomically at each join.
- ``invite_links``: further invites of a group, each with its own token and URL, a role, a use
  limit and an expiry; revoking one deletes its row.
- ``connections.role`` may now be ``listener`` too (a CHECK names the three roles).
- ``groups.host_user_id``: the room's host (one of its admins; the others are co-hosts), filled
  here with each group's first admin; ``host_grace_s``, ``failover_to_members``, ``host_on_return``:
  the failover's settings; ``host_away_since``, ``away_host_user_id``, ``stand_in_role``: its
  durable bookkeeping (rooms_server/hosting.py).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE_CHECK = "role IN ('admin', 'member', 'listener')"
USES_CHECK = "uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)"
FIRST_ADMIN = (
    "UPDATE groups SET host_user_id = (SELECT c.user_id FROM connections c WHERE c.group_id = groups.id"
    " AND c.role = 'admin' ORDER BY c.joined_at, c.user_id LIMIT 1)"
)


def upgrade() -> None:
    with op.batch_alter_table("groupqr") as batch:
        batch.add_column(sa.Column("role", sa.String(10), server_default="member", nullable=False))
        batch.add_column(sa.Column("max_uses", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("uses", sa.Integer(), server_default="0", nullable=False))
        batch.create_check_constraint("groupqr_role_check", ROLE_CHECK)
        batch.create_check_constraint("groupqr_uses_check", USES_CHECK)
    with op.batch_alter_table("connections") as batch:
        batch.create_check_constraint("connections_role_check", ROLE_CHECK)
    with op.batch_alter_table("groups") as batch:
        batch.add_column(sa.Column("host_user_id", sa.CHAR(32), nullable=True))
        batch.add_column(sa.Column("host_grace_s", sa.Integer(), server_default="120", nullable=False))
        batch.add_column(sa.Column("failover_to_members", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch.add_column(sa.Column("host_on_return", sa.String(9), server_default="hand_back", nullable=False))
        batch.add_column(sa.Column("host_away_since", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("away_host_user_id", sa.CHAR(32), nullable=True))
        batch.add_column(sa.Column("stand_in_role", sa.String(10), nullable=True))
        batch.create_foreign_key("groups_host_user_id_fkey", "users", ["host_user_id"], ["id"])
        batch.create_foreign_key("groups_away_host_user_id_fkey", "users", ["away_host_user_id"], ["id"])
        batch.create_check_constraint("groups_host_on_return_check", "host_on_return IN ('hand_back', 'keep')")
    op.execute(FIRST_ADMIN)
    op.create_table(
        "invite_links",
        sa.Column("id", sa.CHAR(32), nullable=False),
        sa.Column("group_id", sa.CHAR(32), nullable=False),
        sa.Column("token", sa.CHAR(32), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("label", sa.String(80), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_by_user_id", sa.CHAR(32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expired_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(ROLE_CHECK, name="invite_links_role_check"),
        sa.CheckConstraint(USES_CHECK, name="invite_links_uses_check"),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name="invite_links_group_id_fkey"),
        sa.ForeignKeyConstraint(["created_by_user_id"], ["users.id"], name="invite_links_created_by_user_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="invite_links_pk"),
        sa.UniqueConstraint("token", name="invite_links_token_unique"),
    )
    op.create_index("idx_invite_links_group_id", "invite_links", ["group_id"])
    op.create_index("idx_invite_links_expired_at", "invite_links", ["expired_at"])


def downgrade() -> None:
    op.drop_index("idx_invite_links_expired_at", table_name="invite_links")
    op.drop_index("idx_invite_links_group_id", table_name="invite_links")
    op.drop_table("invite_links")
    op.execute("UPDATE connections SET role = 'member' WHERE role = 'listener'")
    with op.batch_alter_table("groups") as batch:
        batch.drop_constraint("groups_host_on_return_check", type_="check")
        batch.drop_constraint("groups_away_host_user_id_fkey", type_="foreignkey")
        batch.drop_constraint("groups_host_user_id_fkey", type_="foreignkey")
        for column in (
            "stand_in_role",
            "away_host_user_id",
            "host_away_since",
            "host_on_return",
            "failover_to_members",
            "host_grace_s",
            "host_user_id",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("connections") as batch:
        batch.drop_constraint("connections_role_check", type_="check")
    with op.batch_alter_table("groupqr") as batch:
        batch.drop_constraint("groupqr_uses_check", type_="check")
        batch.drop_constraint("groupqr_role_check", type_="check")
        for column in ("uses", "max_uses", "role"):
            batch.drop_column(column)
