"""groupqr.code, tracks.artwork_url and chat_messages: short join codes, artwork, durable chat.

``groupqr.code`` is the invite's short join code (6 characters, see rooms_server/invites.py),
unique while its row lives; nullable so that rows written before it keep working (they get a code
at their next rotation). ``tracks.artwork_url`` is the cover of a resolved track (NULL when the
track was described by hand). ``chat_messages`` keeps a room's chat for late joiners; the
housekeeping keeps the last 200 per group.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("groupqr") as batch:
        batch.add_column(sa.Column("code", sa.String(8), nullable=True))
        batch.create_unique_constraint("groupqr_code_unique", ["code"])
    # A plain ADD COLUMN (no batch): tracks keeps its AUTOINCREMENT table as it is.
    op.add_column("tracks", sa.Column("artwork_url", sa.Text(), nullable=True))
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.CHAR(32), nullable=False),
        sa.Column("user_id", sa.CHAR(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name="chat_messages_group_id_fkey"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="chat_messages_user_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="chat_messages_pk"),
        sqlite_autoincrement=True,
    )
    op.create_index("idx_chat_messages_group_id", "chat_messages", ["group_id", "id"])


def downgrade() -> None:
    op.drop_index("idx_chat_messages_group_id", table_name="chat_messages")
    op.drop_table("chat_messages")
    with op.batch_alter_table("tracks") as batch:
        batch.drop_column("artwork_url")
    with op.batch_alter_table("groupqr") as batch:
        batch.drop_constraint("groupqr_code_unique", type_="unique")
        batch.drop_column("code")
