"""Queue settings on groups and playback_history: how a room's queue behaves, and what it played.

The eight queue columns of ``groups`` hold ``queue_rules.QueueSettings`` (their server defaults
are its defaults, so rooms created before this migration get them). ``playback_history`` keeps
one row per play of a track that ended, with the track copied (its playlist row may be removed
later); rows go with their group.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECKS = {
    "groups_queue_mode_check": "queue_mode IN ('in_order', 'fair_turns')",
    "groups_repeat_mode_check": "repeat_mode IN ('off', 'one', 'all')",
    "groups_who_may_add_check": "who_may_add IN ('everyone', 'hosts')",
}


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.add_column(sa.Column("queue_mode", sa.String(10), server_default="in_order", nullable=False))
        batch.add_column(sa.Column("repeat_mode", sa.String(3), server_default="off", nullable=False))
        batch.add_column(sa.Column("autoplay", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("autoplay_avoid_last", sa.Integer(), server_default="10", nullable=False))
        batch.add_column(sa.Column("who_may_add", sa.String(8), server_default="everyone", nullable=False))
        batch.add_column(sa.Column("max_queued_per_member", sa.Integer(), server_default="10", nullable=False))
        batch.add_column(sa.Column("max_track_s", sa.Integer(), server_default="1200", nullable=False))
        batch.add_column(sa.Column("replay_block_min", sa.Integer(), server_default="60", nullable=False))
        for name, condition in _CHECKS.items():
            batch.create_check_constraint(name, condition)
    op.create_table(
        "playback_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.CHAR(32), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.Column("added_by_user_id", sa.CHAR(32), nullable=False),
        sa.Column("service", sa.String(12), nullable=False),
        sa.Column("title", sa.String(512), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column("external_url", sa.Text(), nullable=False),
        sa.Column("artwork_url", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=False),
        sa.Column("played_ms", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('ended', 'skipped', 'voted', 'removed')", name="playback_history_outcome_check"
        ),
        sa.CheckConstraint("played_ms >= 0", name="playback_history_played_ms_check"),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name="playback_history_group_id_fkey"),
        sa.ForeignKeyConstraint(["added_by_user_id"], ["users.id"], name="playback_history_added_by_user_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="playback_history_pk"),
        sqlite_autoincrement=True,
    )
    op.create_index("idx_playback_history_group_id", "playback_history", ["group_id", "id"])
    op.create_index("idx_playback_history_group_id_url", "playback_history", ["group_id", "external_url", "ended_at"])


def downgrade() -> None:
    op.drop_index("idx_playback_history_group_id_url", table_name="playback_history")
    op.drop_index("idx_playback_history_group_id", table_name="playback_history")
    op.drop_table("playback_history")
    with op.batch_alter_table("groups") as batch:
        for name in _CHECKS:
            batch.drop_constraint(name, type_="check")
        for column in (
            "replay_block_min",
            "max_track_s",
            "max_queued_per_member",
            "who_may_add",
            "autoplay_avoid_last",
            "autoplay",
            "repeat_mode",
            "queue_mode",
        ):
            batch.drop_column(column)
