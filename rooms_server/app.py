"""The composition root: builds the database, the engine and the routes from Settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rooms_server.clock import ServerClock
from rooms_server.config import Settings
from rooms_server.db import invites as invite_queries, migrate
from rooms_server.db.session import Database
from rooms_server.engine import Engine, create_engine
from rooms_server.errors import ApiError
from rooms_server.follow import SpotifyFollow
from rooms_server.hub import Hub
from rooms_server.live import LiveGroups
from rooms_server.presence import Presence
from rooms_server.protocol import CloseCode
from rooms_server.sources import Sources
from rooms_server.sources.spotify_player import SpotifyPlayer
from rooms_server.web import groups, health, invites, members, openapi, pages, playlist, services, users, ws

log = logging.getLogger("rooms_server")


class State(TypedDict):
    settings: Settings
    db: Database
    engine: Engine
    hub: Hub
    live: LiveGroups
    presence: Presence
    sources: Sources


def create_app(settings: Settings | None = None, *, clock: ServerClock | None = None) -> Starlette:
    """The app; ``clock`` (default: the real monotonic-anchored one) lets tests drive time."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        if settings.migrate_on_start:
            await migrate.upgrade(settings.database_url)
        db = Database(settings.database_url)
        hub = Hub()
        engine = create_engine(
            settings.engine_url,
            on_event=hub.on_event,
            on_reset=hub.on_reset,
            prefix=settings.redis_prefix,
            history_size=settings.history_size,
        )
        await engine.connect()
        sources = Sources.build(settings, db, engine)
        live = LiveGroups(engine, db, settings, sources, clock=clock or ServerClock())
        follow = SpotifyFollow(live, SpotifyPlayer(sources.spotify), hub, engine)
        presence = Presence(hub, engine, live)
        presence.start()
        cleanup = asyncio.create_task(
            invite_queries.cleanup_forever(db, settings.invite_cleanup_s), name="invite-cleanup"
        )
        log.info("engine %s ready", settings.engine_url.split("@")[-1])
        try:
            yield {
                "settings": settings,
                "db": db,
                "engine": engine,
                "hub": hub,
                "live": live,
                "presence": presence,
                "sources": sources,
            }
        finally:
            cleanup.cancel()
            await asyncio.gather(cleanup, return_exceptions=True)
            await hub.close_all(CloseCode.SHUTDOWN, "server shutting down")
            await presence.stop()
            await follow.stop()
            await engine.close()
            await db.close()

    routes = [
        *health.routes,
        *users.routes,
        *groups.routes,
        *members.routes,
        *invites.routes,
        *playlist.routes,
        *services.routes,
        *ws.routes,
        *openapi.routes,
        *pages.routes,
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _internal_error},
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    headers.update(getattr(exc, "headers", None) or {})  # e.g. Retry-After of a provider's rate limit
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = "No such route." if exc.status_code == 404 else str(exc.detail)
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=exc.status_code, headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": {"code": "internal_error", "message": "Something went wrong."}}, status_code=500)
