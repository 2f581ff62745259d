"""The composition root: builds the database, the engine and the routes from Settings."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypedDict

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rooms_server import failures, lan
from rooms_server.clock import ServerClock
from rooms_server.config import Settings
from rooms_server.db import migrate
from rooms_server.db.session import Database
from rooms_server.engine import Engine, create_engine
from rooms_server.errors import ApiError
from rooms_server.follow import SpotifyFollow
from rooms_server.heartbeat import Heartbeat
from rooms_server.host_watch import HostWatch
from rooms_server.housekeeping import Housekeeper, purge_jobs
from rooms_server.hub import Hub
from rooms_server.live import LiveGroups
from rooms_server.metrics import Metrics
from rooms_server.presence import Presence
from rooms_server.protocol import CloseCode
from rooms_server.session_check import SessionCheck
from rooms_server.sources import Sources
from rooms_server.sources.spotify_player import SpotifyPlayer
from rooms_server.timers import TrackEndTimers
from rooms_server.web import (
    error_pages,
    groups,
    health,
    history,
    hosting,
    invite_links,
    invites,
    joining,
    members,
    metrics as metrics_route,
    openapi,
    pages,
    playlist,
    server_info,
    services,
    users,
    ws,
)
from rooms_server.web.admission import Admission, AdmissionMiddleware
from rooms_server.web.context import HttpGZip, RequestContext
from rooms_server.web.origins import OriginCheck
from rooms_server.web.socket_routes import DirectSocketRoutes

log = logging.getLogger("rooms_server")


class State(TypedDict):
    settings: Settings
    db: Database
    engine: Engine
    hub: Hub
    live: LiveGroups
    presence: Presence
    host_watch: HostWatch
    sources: Sources
    metrics: Metrics
    rate_clock: Callable[[], float]
    admission: Admission


def create_app(
    settings: Settings | None = None,
    *,
    clock: ServerClock | None = None,
    rate_clock: Callable[[], float] = time.monotonic,
    discover: lan.Discover = lan.discover_addresses,
) -> Starlette:
    """The app. ``clock``: the server's time (default: the real monotonic-anchored one);
    ``rate_clock``: monotonic seconds for the per-socket rate limits; ``discover``: the machine's
    LAN addresses (used only when PUBLIC_BASE_URL is unset, see lan.py). Tests drive each."""
    settings = lan.advertise(settings or Settings.from_env(), discover)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        async with running(settings, clock=clock or ServerClock(), rate_clock=rate_clock) as state:
            yield state

    routes = [
        *health.routes,
        *users.routes,
        *groups.routes,
        *members.routes,
        *invites.routes,
        *joining.routes,
        *invite_links.routes,
        *hosting.routes,
        *playlist.routes,
        *history.routes,
        *services.routes,
        *server_info.routes,
        *ws.routes,
        *(metrics_route.routes if settings.metrics_token else []),
        *openapi.routes,
        *pages.routes,
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        # gzip (HTTP only, 500 bytes and more) outside the friendly error pages, which it then compresses too
        middleware=[
            Middleware(RequestContext),
            Middleware(HttpGZip, minimum_size=500),
            Middleware(error_pages.HtmlErrors),
            Middleware(OriginCheck, allowed=settings.allowed_origins),
            Middleware(AdmissionMiddleware, max_body_bytes=settings.limits.max_body_bytes),
            Middleware(DirectSocketRoutes, routes=ws.routes),  # innermost: past it, only the socket's handler
        ],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            **dict.fromkeys(failures.BACKEND_ERRORS, _backend_error),
            Exception: _internal_error,
        },
    )


@asynccontextmanager
async def running(settings: Settings, *, clock: ServerClock, rate_clock: Callable[[], float]) -> AsyncIterator[State]:
    """Every part, built in dependency order and wired here; stopped in reverse order on the way out."""
    if settings.migrate_on_start:
        await migrate.upgrade(settings.database_url)
    async with AsyncExitStack() as stack:
        metrics = Metrics()
        db = Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        stack.push_async_callback(db.close)
        hub = Hub(metrics)
        metrics.watch(sockets=hub.socket_count, groups=lambda: len(hub.groups), fast_path=hub.fast_path_count)
        engine = _engine(settings, hub, metrics)
        await engine.connect()
        stack.push_async_callback(engine.close)
        sources = Sources.build(settings, db, engine)
        live = LiveGroups(engine, db, settings, sources, metrics, clock=clock)
        follow = SpotifyFollow(live, SpotifyPlayer(sources.spotify), hub, engine)
        live.observers.append(follow.on_commit)  # drives the followers' Spotify after each change
        live.follow = follow  # the follow command checks the member's Spotify through it
        hub.react(follow.react)  # a follow_changed notice goes to its member's sockets
        stack.push_async_callback(follow.stop)
        timers = TrackEndTimers(hub, live, live.clock)
        hub.react(timers.react)  # re-armed from the events' ends_at_ms
        presence = Presence(hub, engine, live, timers)
        stack.push_async_callback(presence.stop)
        host_watch = HostWatch(hub, engine.presence, live, db, every_s=settings.host_check_s)
        presence.released.append(host_watch.released)  # an emptied room stops the host's grace period
        host_watch.start()
        stack.push_async_callback(host_watch.stop)
        for service in (Heartbeat(hub, engine.presence, presence, settings.presence_ttl_s), SessionCheck(hub, db)):
            service.start()
            stack.push_async_callback(service.stop)
        stack.push_async_callback(hub.close_all, CloseCode.SHUTDOWN, "server shutting down")
        housekeeper = _housekeeper(settings, db, metrics)
        housekeeper.start()
        stack.push_async_callback(housekeeper.stop)
        log.info("engine %s ready", settings.engine_url.split("@")[-1])
        yield {
            "settings": settings,
            "db": db,
            "engine": engine,
            "hub": hub,
            "live": live,
            "presence": presence,
            "host_watch": host_watch,
            "sources": sources,
            "metrics": metrics,
            "rate_clock": rate_clock,
            "admission": Admission(settings.limits.admission_limit, settings.limits.admission_wait_s),
        }


def _engine(settings: Settings, hub: Hub, metrics: Metrics) -> Engine:
    """The live engine of ENGINE_URL, delivering to this process's hub."""
    return create_engine(
        settings.engine_url,
        on_event=hub.on_event,
        on_reset=hub.on_reset,
        on_signal=hub.on_signal,
        on_error=lambda exc: metrics.backend_error(exc, "engine"),
        prefix=settings.redis_prefix,
        history_size=settings.history_size,
    )


def _housekeeper(settings: Settings, db: Database, metrics: Metrics) -> Housekeeper:
    jobs = purge_jobs(
        db,
        invites_every_s=settings.invite_cleanup_s,
        sessions_every_s=settings.session_cleanup_s,
        command_id_window_s=settings.command_id_window_s,
    )
    return Housekeeper(jobs, metrics)


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


async def _backend_error(request: Request, exc: Exception) -> Response:
    """503 ``unavailable`` with Retry-After for an engine or database outage; other errors are bugs."""
    failure = failures.classify(exc)
    if failure is None:
        raise exc
    failures.report(failure, f"{request.method} {request.url.path}")
    body = {"error": {"code": "unavailable", "message": failure.message, "details": {"backend": failure.backend}}}
    retry_after = str(math.ceil(failure.retry_after_ms / 1000))
    return JSONResponse(body, status_code=503, headers={"Retry-After": retry_after})


async def _internal_error(request: Request, exc: Exception) -> Response:
    metrics = getattr(request.state, "metrics", None)
    if isinstance(metrics, Metrics):
        metrics.backend_error(exc, "http")
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": {"code": "internal_error", "message": "Something went wrong."}}, status_code=500)
