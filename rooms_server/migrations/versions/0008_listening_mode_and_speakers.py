"""groups.listening_mode and group_speakers: how a room listens, and which devices are its speakers.

``listening_mode`` is ``everyone`` (every phone that joined plays the room; the default, so every
existing room keeps sounding as before) or ``speaker`` (only the room's speaker devices play).
``group_speakers`` holds those devices: a per-room key of the device (never the device id the
phone keeps) and the host who marked it.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.add_column(sa.Column("listening_mode", sa.String(8), server_default="everyone", nullable=False))
        batch.create_check_constraint("groups_listening_mode_check", "listening_mode IN ('everyone', 'speaker')")
    op.create_table(
        "group_speakers",
        sa.Column("group_id", sa.CHAR(32), nullable=False),
        sa.Column("device_key", sa.CHAR(32), nullable=False),
        sa.Column("user_id", sa.CHAR(32), nullable=False),
        sa.Column("marked_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name="group_speakers_group_id_fkey"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="group_speakers_user_id_fkey"),
        sa.PrimaryKeyConstraint("group_id", "device_key", name="group_speakers_pk"),
    )


def downgrade() -> None:
    op.drop_table("group_speakers")
    with op.batch_alter_table("groups") as batch:
        batch.drop_constraint("groups_listening_mode_check", type_="check")
        batch.drop_column("listening_mode")
