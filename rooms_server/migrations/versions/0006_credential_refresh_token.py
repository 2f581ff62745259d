"""user_credentials.refresh_token: the connected service's refresh token, Fernet-encrypted like ``token``.

Nullable: a token handed in by an app may come without one (it is then used until it expires).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_credentials") as batch:
        batch.add_column(sa.Column("refresh_token", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_credentials") as batch:
        batch.drop_column("refresh_token")
