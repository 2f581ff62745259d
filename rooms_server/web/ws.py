"""The room socket ``/ws/groups/{group_id}``: handshake, first frame, then commands until close.

The socket is accepted before anything is checked so that every refusal reaches the client as a
documented close code (a close before accept is only an HTTP 403 to a browser). The token comes
in the first ``hello`` frame (browsers cannot set headers) or an ``Authorization`` header, never
in the URL. The work from the hello to the first frame (``first_frame.py``) waits for a turn of
the process's admission (web/admission.py), so a join storm is served in order instead of all at
once; after the first frame the socket is served by ``ws_loop.CommandLoop``. A socket that cannot
start because the engine or the database is down, or gets no turn in time, is closed with 4013
(reconnect and resume), and it ends with 4501 the moment its token expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar, cast

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from rooms_server import failures, logs, protocol, ratelimit
from rooms_server.auth import bearer_token, hash_token
from rooms_server.client import Client
from rooms_server.config import Settings
from rooms_server.db import identity
from rooms_server.db.models import utcnow
from rooms_server.db.session import Database
from rooms_server.engine.base import Engine
from rooms_server.failures import BACKEND_ERRORS
from rooms_server.hub import Hub
from rooms_server.live import GroupGone, LiveGroups
from rooms_server.metrics import Metrics
from rooms_server.presence import Presence
from rooms_server.protocol import CloseCode, ProtocolError
from rooms_server.web.admission import Admission, Overloaded
from rooms_server.web.fast_path import direct_writer
from rooms_server.web.first_frame import first_frame
from rooms_server.web.origins import refusal_hint
from rooms_server.web.ws_loop import Clock, CommandLoop

T = TypeVar("T")

log = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 10.0
CLOSE_WAIT_S = 30.0  # how long a handler waits for its close frame to reach a stalled client
_EXPIRED = "the token has expired"


class Refused(Exception):
    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def group_socket(ws: WebSocket) -> None:
    settings = cast(Settings, ws.state.settings)
    metrics = cast(Metrics, ws.state.metrics)
    await ws.accept()
    hello = await _refusing(ws, metrics, _greeting(ws, settings))
    if hello is None:
        return
    # The socket's turn (web/admission.py): from its hello, so a silent client holds none, to its
    # first frame.
    release_turn = await _refusing(ws, metrics, cast(Admission, ws.state.admission).enter())
    if release_turn is None:
        return
    try:
        started = await _refusing(ws, metrics, _handshake(ws, settings, hello))
        if started is not None:
            await _run(ws, settings, metrics, started, hello, release_turn)
    finally:
        release_turn()


async def _refusing(ws: WebSocket, metrics: Metrics, step: Awaitable[T]) -> T | None:
    """A step before the socket starts; None once it refused the socket (with its close code)."""
    try:
        return await step
    except Refused as refused:
        metrics.socket_closed(refused.code)
        await ws.close(refused.code, refused.reason)
    except Overloaded:
        metrics.socket_closed(CloseCode.UNAVAILABLE)
        await ws.close(CloseCode.UNAVAILABLE, "server busy; reconnect and resume")
    except WebSocketDisconnect:
        pass
    except BACKEND_ERRORS as exc:
        metrics.backend_error(exc, "socket")
        metrics.socket_closed(CloseCode.UNAVAILABLE)
        await _close_unavailable(ws, exc, "handshake")
    return None


async def _run(
    ws: WebSocket,
    settings: Settings,
    metrics: Metrics,
    started: tuple[Client, datetime],
    hello: protocol.Hello,
    release_turn: Callable[[], None],
) -> None:
    conn, expires_at = started
    logs.socket_id.set(conn.id)
    presence = cast(Presence, ws.state.presence)
    expiry = _end_at_expiry(conn, expires_at)
    try:
        await presence.attach(conn)
        await first_frame(ws, conn, hello)
        release_turn()
        await _serve(ws, conn, settings)
    except GroupGone:
        await conn.shut(CloseCode.GROUP_DELETED, "group deleted")
    except WebSocketDisconnect:
        pass
    except BACKEND_ERRORS as exc:
        # Before the first frame the socket cannot go on: the client reconnects and resumes.
        metrics.backend_error(exc, "socket")
        failure = failures.classify(exc)
        if failure is None:
            raise
        failures.report(failure, f"socket of group {conn.group_id}")
        await conn.shut(CloseCode.UNAVAILABLE, "service unavailable; reconnect and resume")
    finally:
        expiry.cancel()
        counted = conn.close_code
        if counted is not None:
            metrics.socket_closed(counted)
        # The departure runs in a task of its own (presence waits for it at shutdown), so a handler
        # cancelled here still says goodbye; the cancellation itself is never swallowed.
        leaving = presence.leave(conn)
        await conn.aclose(CLOSE_WAIT_S)  # stops accepting frames at once, then waits for its close frame
        if counted is None and conn.close_code is not None:  # a close begun by aclose (a pending flush)
            metrics.socket_closed(conn.close_code)
        await asyncio.shield(leaving)


async def _close_unavailable(ws: WebSocket, exc: BaseException, where: str) -> None:
    """4013 (reconnect and resume) for an engine or database outage; anything else is a bug."""
    failure = failures.classify(exc)
    if failure is None:
        raise exc
    failures.report(failure, where)
    with contextlib.suppress(Exception):  # the client may be gone already
        await ws.close(CloseCode.UNAVAILABLE, "service unavailable; reconnect and resume")


def _end_at_expiry(conn: Client, expires_at: datetime) -> asyncio.TimerHandle:
    """Close the socket with 4501 the moment its token expires (revocation comes as a signal, hub.py)."""
    delay = max((expires_at - utcnow()).total_seconds(), 0.0)
    # The bound method and its arguments, not a closure: one function object less per socket.
    return asyncio.get_running_loop().call_later(delay, conn.shut_nowait, CloseCode.UNAUTHORIZED, _EXPIRED)


async def _greeting(ws: WebSocket, settings: Settings) -> protocol.Hello:
    """The origin and connection-rate checks, then the client's hello."""
    origin = ws.headers.get("origin")
    if origin is not None and origin.rstrip("/") not in settings.allowed_origins:
        log.warning(
            "refused a room socket from origin %s: %s",
            origin,
            refusal_hint(origin.rstrip("/"), settings.allowed_origins),
        )
        raise Refused(CloseCode.BAD_ORIGIN, "origin not allowed")
    ip = ws.client.host if ws.client is not None else "unknown"
    attempts = settings.limits.connect_attempts_per_minute
    if await ratelimit.exceeded(cast(Engine, ws.state.engine), "connect-ip", ip, attempts):
        raise Refused(CloseCode.TOO_MANY_COMMANDS, "too many connection attempts; try again in a minute")
    return await _receive_hello(ws, settings)


async def _handshake(ws: WebSocket, settings: Settings, hello: protocol.Hello) -> tuple[Client, datetime]:
    """Who the hello's token is, and whether they may be in this room: the socket's Client."""
    token = hello.token or bearer_token(ws.headers.get("authorization"))
    group_id = ws.path_params["group_id"]
    access = None
    if token:
        async with cast(Database, ws.state.db).read_core() as connection:
            access = await identity.room_access(connection, hash_token(token), group_id, utcnow())
    if access is None or token is None:
        raise Refused(CloseCode.UNAUTHORIZED, "a valid token is required")
    if not access.group_exists or (access.role is None and not access.group_is_public):
        raise Refused(CloseCode.GROUP_NOT_FOUND, "no such group")
    if access.role is None:
        raise Refused(CloseCode.FORBIDDEN, "join the group first")
    hub = cast(Hub, ws.state.hub)
    if hub.user_connections(access.user_id) >= settings.limits.max_connections_per_user:
        raise Refused(CloseCode.TOO_MANY_CONNECTIONS, "too many connections for this user")
    conn = Client(
        id=uuid.uuid4().hex,
        group_id=group_id,
        user_id=access.user_id,
        name=access.name,
        role=access.role,
        send=ws.send_text,
        close=ws.close,
        queue_size=settings.limits.send_queue_frames,
        token_hash=hash_token(token),
        write=direct_writer(ws, enabled=settings.fast_path),
        device_key=None if hello.device_id is None else protocol.device_key(group_id, hello.device_id),
    )
    return conn, access.expires_at


async def _receive_hello(ws: WebSocket, settings: Settings) -> protocol.Hello:
    try:
        text = await asyncio.wait_for(_receive_text(ws), HELLO_TIMEOUT_S)
    except TimeoutError:
        raise Refused(CloseCode.HELLO_TIMEOUT, "no hello in time") from None
    try:
        frame = protocol.parse_client_frame(text, max_bytes=settings.limits.max_frame_bytes)
    except ProtocolError as exc:
        raise Refused(CloseCode.UNAUTHORIZED, f"the first frame must be hello ({exc.code})") from None
    if not isinstance(frame, protocol.Hello) or not isinstance(text, str):
        raise Refused(CloseCode.UNAUTHORIZED, "the first frame must be a hello text frame")
    return frame


async def _receive_text(ws: WebSocket) -> str | bytes:
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text: str | None = message.get("text")
    return text if text is not None else message.get("bytes") or b""


async def _receive_unless_shut(ws: WebSocket, conn: Client) -> str | bytes | None:
    """The next frame, or None once the connection is shut: a client shut as a slow consumer may
    never send again, and its departure (member_left, presence) must not wait for it.

    The handler waits on its receive alone, and the shut cancels that one wait (``Client.on_shut``):
    an idle socket holds no helper task (racing the receive against an Event cost two tasks and
    ~2.7 KB per socket, docs/BENCHMARKS.md). A frame or a disconnect after the shut no longer matters.
    """
    if conn.shut_down:
        return None
    task = asyncio.current_task()
    assert task is not None
    conn.on_shut = task.cancel
    try:
        return await _receive_text(ws)
    except asyncio.CancelledError:
        # Only the shut's own cancellation is absorbed; any other (the server stopping) goes on.
        if conn.shut_down and task.uncancel() == 0:
            return None
        raise
    finally:
        conn.on_shut = None


async def _serve(ws: WebSocket, conn: Client, settings: Settings) -> None:
    presence = cast(Presence, ws.state.presence)

    async def present_users() -> int:
        return await presence.voters(conn.group_id)

    clock = cast(Clock, getattr(ws.state, "rate_clock", time.monotonic))
    live, metrics = cast(LiveGroups, ws.state.live), cast(Metrics, ws.state.metrics)
    receive = functools.partial(_receive_unless_shut, ws, conn)  # one coroutine frame less per wait
    await CommandLoop(conn, receive, live, settings, present_users, clock, metrics).run()


routes = [WebSocketRoute("/ws/groups/{group_id:str}", group_socket)]
