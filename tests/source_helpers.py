"""Settings pointing at the fake services, and a rig of the real parts behind ``Sources``
(database, engine, credential store) for tests that do not need the whole app."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from rooms_server.config import Settings, SourceSettings
from rooms_server.db import identity
from rooms_server.db.session import Database
from rooms_server.engine import Engine, create_engine
from rooms_server.sources import Sources
from tests.fake_services import API_KEY, CLIENT_ID, CLIENT_SECRET, FakeSpotify, FakeYouTube

TEST_KEY = Fernet.generate_key().decode()


def source_settings(
    spotify: FakeSpotify | None = None, youtube: FakeYouTube | None = None, **overrides: Any
) -> SourceSettings:
    values: dict[str, Any] = {"timeout_s": 2.0}
    if spotify is not None:
        values |= {
            "spotify_client_id": CLIENT_ID,
            "spotify_client_secret": CLIENT_SECRET,
            "spotify_api_url": f"{spotify.api.url}/v1/",
            "spotify_accounts_url": spotify.accounts.url,
        }
    if youtube is not None:
        values |= {"youtube_api_key": API_KEY, "youtube_api_url": youtube.server.url}
    return SourceSettings(**(values | overrides))


def app_settings(database_url: str, sources: SourceSettings, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": "test-secret",
        "public_base_url": "http://testserver",
        "allowed_origins": ("http://testserver",),
        "migrate_on_start": False,
        "playback_lead_ms": 0,
        "token_encryption_keys": (TEST_KEY,),
        "sources": sources,
    }
    return Settings(**(values | overrides))


def sqlite_copy(template: Path, tmp_path: Path) -> str:
    target = tmp_path / "rooms.db"
    shutil.copy(template, target)
    return f"sqlite+aiosqlite:///{target}"


@dataclass
class Rig:
    settings: Settings
    db: Database
    engine: Engine
    sources: Sources
    user_id: str

    async def new_user(self, name: str = "Bob") -> str:
        async with self.db.write() as session:
            return (await identity.create_user(session, name)).id


@asynccontextmanager
async def rig(database_url: str, sources: SourceSettings, *, engine_url: str = "memory://") -> AsyncIterator[Rig]:
    settings = app_settings(database_url, sources)
    db = Database(database_url)
    engine = create_engine(engine_url, on_event=lambda *_: None, on_reset=lambda _: None, prefix="test-sources:")
    await engine.connect()
    try:
        async with db.write() as session:
            user = await identity.create_user(session, "Ann")
        yield Rig(settings, db, engine, Sources.build(settings, db, engine), user.id)
    finally:
        await engine.close()
        await db.close()
