"""Durable records, named exactly as in the original schema (shared/seeds/schema-000.txt).

Extensions to that schema, each in a migration of its own and listed in docs/SCHEMA.md:
- ``playlists_id_unique``: makes ``tracks.playlist_id → playlists(id)`` a valid foreign key (the
  playlists key is ``(id, group_id)``; PostgreSQL and SQLite both need a unique target).
- ``connections_user_id_group_id_unique``: one membership per user and group.
- ``tracks.position``: the order of the playlist, dense from 0, surviving removals and moves.
- ``playlists.version``: bumped by every change of the track list or current index (compare-and-set).
- ``auth_sessions``: bearer tokens of guest identities, stored as SHA-256 hashes.
- ``user_credentials.refresh_token``: the (encrypted) refresh token of a connected service.
- ``tracks`` and ``user_credentials`` ids are AUTOINCREMENT on SQLite (never reused after a delete,
  as PostgreSQL's sequences already guarantee): a stale command naming a removed track's id must
  never act on a newer track.
- ``command_results``: the answers of durable client commands, for exactly-once retries.
- ``groups.listening_mode`` and ``group_speakers``: how a room listens (every phone, or only its
  speaker devices) and which devices are its speakers.
- ``groupqr.code``: the invite's short join code; ``tracks.artwork_url``: a track's cover;
  ``chat_messages``: the room's recent chat, for phones that join later.
- the queue settings of ``groups`` (``queue_mode``, ``repeat_mode``, ``autoplay``,
  ``autoplay_avoid_last``, ``who_may_add``, ``max_queued_per_member``, ``max_track_s``,
  ``replay_block_min``) and ``playback_history``: one row per play of a track that ended.
- the role and use limit of the QR invite (``groupqr.role``, ``max_uses``, ``uses``), ``invite_links``
  (further invites, each with a role, a use limit and an expiry), the ``listener`` role (a CHECK on
  ``connections.role``) and who hosts a room (``groups.host_user_id`` and the failover columns).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CHAR,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.schema import CreateColumn
from sqlalchemy.sql.compiler import DDLCompiler

NAMING_CONVENTION = {
    "pk": "%(table_name)s_pk",
    "uq": "%(table_name)s_%(column_0_name)s_unique",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "ix": "idx_%(table_name)s_%(column_0_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A DATETIME column holding naive UTC; Python sees aware UTC datetimes.

    SQLite has no time zones, so the value is normalised to UTC before it is stored and tagged
    as UTC when it is read, on every database alike.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


@compiles(CreateColumn, "sqlite")
def _named_autoincrement_key(element: CreateColumn, compiler: DDLCompiler, **kw: Any) -> str:
    """Keep the primary key's name on SQLite AUTOINCREMENT columns.

    SQLite allows AUTOINCREMENT only on a column's inline PRIMARY KEY, and SQLAlchemy renders that
    without the constraint name, which would drop the seed's ``tracks_pk`` / ``user_credentials_pk``.
    The inline form takes a name too: ``id INTEGER NOT NULL CONSTRAINT tracks_pk PRIMARY KEY AUTOINCREMENT``.
    """
    text = str(compiler.visit_create_column(element, **kw))  # type: ignore[no-untyped-call]
    column = element.element
    name = column.table.primary_key.name if column.table is not None else None
    if text.endswith(" PRIMARY KEY AUTOINCREMENT") and isinstance(name, str):
        text = text.replace(" PRIMARY KEY AUTOINCREMENT", f" CONSTRAINT {name} PRIMARY KEY AUTOINCREMENT")
    return text


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (PrimaryKeyConstraint("id", name="users_pk"),)

    id: Mapped[str] = mapped_column(CHAR(32))
    name: Mapped[str] = mapped_column(String(255))


LISTENING_MODES = ("everyone", "speaker")
ROLES = ("admin", "member", "listener")  # rooms.ROLE_RANK orders them
HOST_RETURNS = ("hand_back", "keep")


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="groups_pk"),
        UniqueConstraint("name", name="groups_name_unique"),
        CheckConstraint("listening_mode IN ('everyone', 'speaker')", name="groups_listening_mode_check"),
        CheckConstraint("queue_mode IN ('in_order', 'fair_turns')", name="groups_queue_mode_check"),
        CheckConstraint("repeat_mode IN ('off', 'one', 'all')", name="groups_repeat_mode_check"),
        CheckConstraint("who_may_add IN ('everyone', 'hosts')", name="groups_who_may_add_check"),
        CheckConstraint("host_on_return IN ('hand_back', 'keep')", name="groups_host_on_return_check"),
    )

    id: Mapped[str] = mapped_column(CHAR(32))
    name: Mapped[str] = mapped_column(String(1000))
    is_public: Mapped[bool] = mapped_column(Boolean)
    listening_mode: Mapped[str] = mapped_column(String(8), server_default="everyone")
    # The queue settings (queue_rules.QueueSettings; its defaults are the server defaults here).
    queue_mode: Mapped[str] = mapped_column(String(10), server_default="in_order")
    repeat_mode: Mapped[str] = mapped_column(String(3), server_default="off")
    autoplay: Mapped[bool] = mapped_column(Boolean, server_default=false())
    autoplay_avoid_last: Mapped[int] = mapped_column(Integer, server_default="10")
    who_may_add: Mapped[str] = mapped_column(String(8), server_default="everyone")
    max_queued_per_member: Mapped[int] = mapped_column(Integer, server_default="10")
    max_track_s: Mapped[int] = mapped_column(Integer, server_default="1200")
    replay_block_min: Mapped[int] = mapped_column(Integer, server_default="60")
    # Who hosts the room (hosting.Hosting): the host, and the failover's settings and bookkeeping.
    host_user_id: Mapped[str | None] = mapped_column(
        CHAR(32), ForeignKey("users.id", name="groups_host_user_id_fkey"), nullable=True
    )
    host_grace_s: Mapped[int] = mapped_column(Integer, server_default="120")
    failover_to_members: Mapped[bool] = mapped_column(Boolean, server_default=true())
    host_on_return: Mapped[str] = mapped_column(String(9), server_default="hand_back")
    host_away_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    away_host_user_id: Mapped[str | None] = mapped_column(
        CHAR(32), ForeignKey("users.id", name="groups_away_host_user_id_fkey"), nullable=True
    )
    stand_in_role: Mapped[str | None] = mapped_column(String(10), nullable=True)
    # Moves whenever a membership of the group changes other than a plain member joining (triggers of
    # migration 0014): what lets a process keep the snapshot's member list between snapshots (roster.py).
    roster_version: Mapped[int] = mapped_column(Integer, server_default="0")


class GroupSpeaker(Base):
    """A device a host marked as the room's speaker; the key is per room (see rooms_server/speakers.py)."""

    __tablename__ = "group_speakers"
    __table_args__ = (PrimaryKeyConstraint("group_id", "device_key", name="group_speakers_pk"),)

    group_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("groups.id", name="group_speakers_group_id_fkey"))
    device_key: Mapped[str] = mapped_column(CHAR(32))
    user_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("users.id", name="group_speakers_user_id_fkey"))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Playlist(Base):
    __tablename__ = "playlists"
    __table_args__ = (
        PrimaryKeyConstraint("id", "group_id", name="playlists_pk"),
        UniqueConstraint("id", name="playlists_id_unique"),
    )

    id: Mapped[str] = mapped_column(CHAR(32))
    group_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("groups.id", name="playlists_group_id_fkey"))
    current_track_index: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, server_default="0")


class Track(Base):
    __tablename__ = "tracks"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="tracks_pk"),
        Index("idx_tracks_playlist_id", "playlist_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, autoincrement=True)
    playlist_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("playlists.id", name="tracks_playlist_id_fkey"))
    added_by_user_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("users.id", name="tracks_added_by_user_id_fkey"))
    service: Mapped[str] = mapped_column(String(12))
    title: Mapped[str] = mapped_column(String(512))
    duration: Mapped[int] = mapped_column(Integer)
    external_url: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    position: Mapped[int] = mapped_column(Integer, server_default="0")
    artwork_url: Mapped[str | None] = mapped_column(Text, nullable=True)


class Membership(Base):
    __tablename__ = "connections"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "group_id", "id", name="connections_pk"),
        UniqueConstraint("user_id", "group_id", name="connections_user_id_group_id_unique"),
        Index("idx_connections_user_id", "user_id"),
        Index("idx_connections_group_id", "group_id"),
        Index("idx_connections_group_id_joined_at", "group_id", "joined_at"),
        Index("idx_connections_group_id_role", "group_id", "role", "joined_at"),
        CheckConstraint("role IN ('admin', 'member', 'listener')", name="connections_role_check"),
    )

    id: Mapped[str] = mapped_column(CHAR(32))
    user_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("users.id", name="connections_user_id_fkey"))
    group_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("groups.id", name="connections_group_id_fkey"))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    role: Mapped[str] = mapped_column(String(10))


class UserCredential(Base):
    __tablename__ = "user_credentials"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="user_credentials_pk"),
        UniqueConstraint("user_id", "service", name="user_credentials_user_id_service_unique"),
        Index("idx_user_credentials_user_id", "user_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, autoincrement=True)
    user_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("users.id", name="user_credentials_user_id_fkey"))
    service: Mapped[str] = mapped_column(String(12))
    token: Mapped[str] = mapped_column(Text)  # Fernet ciphertext of the access token
    expiry: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refresh_token: Mapped[str | None] = mapped_column(Text, nullable=True)  # Fernet ciphertext too


class GroupQR(Base):
    __tablename__ = "groupqr"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="groupqr_pk"),
        UniqueConstraint("group_id", name="groupqr_group_id_unique"),
        UniqueConstraint("url", name="groupqr_url_unique"),
        UniqueConstraint("code", name="groupqr_code_unique"),
        Index("idx_groupqr_expired_at", "expired_at"),
        CheckConstraint("role IN ('admin', 'member', 'listener')", name="groupqr_role_check"),
        CheckConstraint("uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)", name="groupqr_uses_check"),
    )

    id: Mapped[str] = mapped_column(CHAR(32))
    group_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("groups.id", name="groupqr_group_id_fkey"))
    url: Mapped[str] = mapped_column(String(1000))
    expired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    code: Mapped[str | None] = mapped_column(String(8), nullable=True)  # the short join code
    role: Mapped[str] = mapped_column(String(10), server_default="member")  # the role a join gets
    max_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: no limit
    uses: Mapped[int] = mapped_column(Integer, server_default="0")


class InviteLink(Base):
    """An invite besides the QR one: its own token and URL, a role, a use limit and an expiry.

    ``uses`` is counted by one conditional UPDATE per join (db/invites.py), so two phones racing
    for the last use cannot both get in; the CHECK holds the limit even against a faulty writer.
    """

    __tablename__ = "invite_links"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="invite_links_pk"),
        UniqueConstraint("token", name="invite_links_token_unique"),
        Index("idx_invite_links_group_id", "group_id"),
        Index("idx_invite_links_expired_at", "expired_at"),
        CheckConstraint("role IN ('admin', 'member', 'listener')", name="invite_links_role_check"),
        CheckConstraint("uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)", name="invite_links_uses_check"),
    )

    id: Mapped[str] = mapped_column(CHAR(32))
    group_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("groups.id", name="invite_links_group_id_fkey"))
    token: Mapped[str] = mapped_column(CHAR(32))
    url: Mapped[str] = mapped_column(String(1000))
    role: Mapped[str] = mapped_column(String(10))
    label: Mapped[str | None] = mapped_column(String(80), nullable=True)
    max_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uses: Mapped[int] = mapped_column(Integer, server_default="0")
    created_by_user_id: Mapped[str] = mapped_column(
        CHAR(32), ForeignKey("users.id", name="invite_links_created_by_user_id_fkey")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expired_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthSession(Base):
    """A bearer token of a guest identity; only its SHA-256 is kept."""

    __tablename__ = "auth_sessions"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="auth_sessions_pk"),
        UniqueConstraint("token_hash", name="auth_sessions_token_hash_unique"),
        Index("idx_auth_sessions_user_id", "user_id"),
    )

    id: Mapped[str] = mapped_column(CHAR(32))
    user_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("users.id", name="auth_sessions_user_id_fkey"))
    token_hash: Mapped[str] = mapped_column(CHAR(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CommandResult(Base):
    """The answer a durable client command got, written in the command's own transaction.

    A retry of the same ``(user_id, group_id, command_id)`` within the window finds it and gets the
    same answer instead of applying again, even when the process died right after the commit.
    """

    __tablename__ = "command_results"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "group_id", "command_id", name="command_results_pk"),
        Index("idx_command_results_created_at", "created_at"),
    )

    user_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("users.id", name="command_results_user_id_fkey"))
    group_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("groups.id", name="command_results_group_id_fkey"))
    command_id: Mapped[str] = mapped_column(String(64))
    answer: Mapped[str] = mapped_column(Text)  # JSON: {"seq": n} or {"code": ..., "message": ...}
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChatMessage(Base):
    """One chat line of a room, kept so that a phone joining later sees the conversation."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="chat_messages_pk"),
        Index("idx_chat_messages_group_id", "group_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, autoincrement=True)
    group_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("groups.id", name="chat_messages_group_id_fkey"))
    user_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("users.id", name="chat_messages_user_id_fkey"))
    name: Mapped[str] = mapped_column(String(255))  # the sender's name when they sent it
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


PLAY_OUTCOMES = ("ended", "skipped", "voted", "removed")


class PlaybackHistory(Base):
    """One play of a track in a group that ended: written in the transaction of the command that ended it.

    The track is copied (service, link, title, duration, artwork) because its playlist row goes
    when it is removed; ``track_id`` names that row while it lasts (no foreign key, on purpose).
    ``played_ms`` is the position the play reached; ``outcome`` how it ended.
    """

    __tablename__ = "playback_history"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="playback_history_pk"),
        Index("idx_playback_history_group_id", "group_id", "id"),
        Index("idx_playback_history_group_id_url", "group_id", "external_url", "ended_at"),
        CheckConstraint("outcome IN ('ended', 'skipped', 'voted', 'removed')", name="playback_history_outcome_check"),
        CheckConstraint("played_ms >= 0", name="playback_history_played_ms_check"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, autoincrement=True)
    group_id: Mapped[str] = mapped_column(CHAR(32), ForeignKey("groups.id", name="playback_history_group_id_fkey"))
    track_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    added_by_user_id: Mapped[str] = mapped_column(
        CHAR(32), ForeignKey("users.id", name="playback_history_added_by_user_id_fkey")
    )
    service: Mapped[str] = mapped_column(String(12))
    title: Mapped[str] = mapped_column(String(512))
    duration: Mapped[int] = mapped_column(Integer)
    external_url: Mapped[str] = mapped_column(Text)
    artwork_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    played_ms: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(8))
