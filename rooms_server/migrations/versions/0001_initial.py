"""The original schema (shared/seeds/schema-000.txt) with its recommended indexes.

``playlists_id_unique`` is created here too: without a unique target the seed's
``tracks_playlist_id_fkey`` cannot exist on PostgreSQL (and is rejected by SQLite at the first
insert with foreign keys on).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.CHAR(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="users_pk"),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.CHAR(32), nullable=False),
        sa.Column("name", sa.String(1000), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="groups_pk"),
        sa.UniqueConstraint("name", name="groups_name_unique"),
    )
    op.create_table(
        "playlists",
        sa.Column("id", sa.CHAR(32), nullable=False),
        sa.Column("group_id", sa.CHAR(32), nullable=False),
        sa.Column("current_track_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name="playlists_group_id_fkey"),
        sa.PrimaryKeyConstraint("id", "group_id", name="playlists_pk"),
        sa.UniqueConstraint("id", name="playlists_id_unique"),
    )
    op.create_table(
        "tracks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("playlist_id", sa.CHAR(32), nullable=False),
        sa.Column("added_by_user_id", sa.CHAR(32), nullable=False),
        sa.Column("service", sa.String(12), nullable=False),
        sa.Column("title", sa.String(512), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column("external_url", sa.Text(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["playlist_id"], ["playlists.id"], name="tracks_playlist_id_fkey"),
        sa.ForeignKeyConstraint(["added_by_user_id"], ["users.id"], name="tracks_added_by_user_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="tracks_pk"),
    )
    op.create_index("idx_tracks_playlist_id", "tracks", ["playlist_id"])
    op.create_table(
        "connections",
        sa.Column("id", sa.CHAR(32), nullable=False),
        sa.Column("user_id", sa.CHAR(32), nullable=False),
        sa.Column("group_id", sa.CHAR(32), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="connections_user_id_fkey"),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name="connections_group_id_fkey"),
        sa.PrimaryKeyConstraint("user_id", "group_id", "id", name="connections_pk"),
    )
    op.create_index("idx_connections_user_id", "connections", ["user_id"])
    op.create_index("idx_connections_group_id", "connections", ["group_id"])
    op.create_table(
        "user_credentials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.CHAR(32), nullable=False),
        sa.Column("service", sa.String(12), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("expiry", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="user_credentials_user_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="user_credentials_pk"),
        sa.UniqueConstraint("user_id", "service", name="user_credentials_user_id_service_unique"),
    )
    op.create_index("idx_user_credentials_user_id", "user_credentials", ["user_id"])
    op.create_table(
        "groupqr",
        sa.Column("id", sa.CHAR(32), nullable=False),
        sa.Column("group_id", sa.CHAR(32), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("expired_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name="groupqr_group_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="groupqr_pk"),
        sa.UniqueConstraint("group_id", name="groupqr_group_id_unique"),
        sa.UniqueConstraint("url", name="groupqr_url_unique"),
    )
    op.create_index("idx_groupqr_expired_at", "groupqr", ["expired_at"])


def downgrade() -> None:
    op.drop_index("idx_groupqr_expired_at", table_name="groupqr")
    op.drop_table("groupqr")
    op.drop_index("idx_user_credentials_user_id", table_name="user_credentials")
    op.drop_table("user_credentials")
    op.drop_index("idx_connections_group_id", table_name="connections")
    op.drop_index("idx_connections_user_id", table_name="connections")
    op.drop_table("connections")
    op.drop_index("idx_tracks_playlist_id", table_name="tracks")
    op.drop_table("tracks")
    op.drop_table("playlists")
    op.drop_table("groups")
    op.drop_table("users")
