"""A version of each group's roster, moved by the database itself.

Every room socket's snapshot lists up to SNAPSHOT_MEMBERS members present, hosts first, then in
joining order, and reading them was a sixth of a join storm's server CPU (docs/BENCHMARKS.md, *Join
storm*). A process now keeps what it read (roster.py) for as long as ``groups.roster_version``
stays the same. Triggers move it, so no code path can forget to: any membership deleted or
changed (role, group, user, joining time), and a host inserted. A member joining does not move it:
they join at the end of the joining order, after everything a process kept, and a snapshot that
finds them present but not kept reads the roster again.

A later migration that rebuilds ``connections`` on SQLite (batch mode) drops these triggers with
the table and must create them again (tests/test_schema.py checks they are there).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUMP = "UPDATE groups SET roster_version = roster_version + 1 WHERE id"
_CHANGED = "role, group_id, user_id, joined_at"
_TRIGGERS = ("connections_roster_insert", "connections_roster_update", "connections_roster_delete")

_SQLITE = (
    f"CREATE TRIGGER connections_roster_insert AFTER INSERT ON connections WHEN NEW.role = 'admin' "
    f"BEGIN {_BUMP} = NEW.group_id; END",
    f"CREATE TRIGGER connections_roster_update AFTER UPDATE OF {_CHANGED} ON connections "
    f"BEGIN {_BUMP} IN (OLD.group_id, NEW.group_id); END",
    f"CREATE TRIGGER connections_roster_delete AFTER DELETE ON connections BEGIN {_BUMP} = OLD.group_id; END",
)

_POSTGRES = (
    f"""CREATE FUNCTION connections_roster_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_BUMP} = NEW.group_id;
    ELSIF TG_OP = 'UPDATE' THEN
        {_BUMP} IN (OLD.group_id, NEW.group_id);
    ELSE
        {_BUMP} = OLD.group_id;
    END IF;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER connections_roster_insert AFTER INSERT ON connections FOR EACH ROW "
    "WHEN (NEW.role = 'admin') EXECUTE FUNCTION connections_roster_changed()",
    f"CREATE TRIGGER connections_roster_update AFTER UPDATE OF {_CHANGED} ON connections FOR EACH ROW "
    "EXECUTE FUNCTION connections_roster_changed()",
    "CREATE TRIGGER connections_roster_delete AFTER DELETE ON connections FOR EACH ROW "
    "EXECUTE FUNCTION connections_roster_changed()",
)


def upgrade() -> None:
    op.add_column("groups", sa.Column("roster_version", sa.Integer(), nullable=False, server_default="0"))
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRES if postgres else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON connections" if postgres else f"DROP TRIGGER {name}")
    if postgres:
        op.execute("DROP FUNCTION connections_roster_changed()")
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("roster_version")
