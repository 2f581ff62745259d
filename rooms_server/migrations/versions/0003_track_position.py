"""tracks.position: the playlist order, dense from 0, kept through removals and moves.

Existing rows are numbered by id within their playlist, which was the only order before.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tracks") as batch:
        batch.add_column(sa.Column("position", sa.Integer(), server_default="0", nullable=False))
    op.execute(
        "UPDATE tracks SET position = (SELECT COUNT(*) FROM tracks AS earlier "
        "WHERE earlier.playlist_id = tracks.playlist_id AND earlier.id < tracks.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("tracks") as batch:
        batch.drop_column("position")
