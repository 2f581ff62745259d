"""The room socket ``/ws/groups/{group_id}``: handshake, first frame, then commands until close.

The socket is accepted before anything is checked so that every refusal reaches the client as a
documented close code (a close before accept is only an HTTP 403 to a browser). The token comes
in the first ``hello`` frame (browsers cannot set headers) or an ``Authorization`` header, never
in the URL. After the first frame the socket is served by ``ws_loop.CommandLoop``. A socket that
cannot start because the engine or the database is down is closed with 4013 (reconnect and
resume), and it ends with 4501 the moment its token expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import datetime
from typing import cast

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from rooms_server import chat, failures, logs, protocol, ratelimit, rooms
from rooms_server.auth import bearer_token, hash_token
from rooms_server.client import Client
from rooms_server.config import Settings
from rooms_server.db import hosting as hosting_queries, queries
from rooms_server.db.models import utcnow
from rooms_server.db.session import Database
from rooms_server.engine.base import Engine
from rooms_server.failures import BACKEND_ERRORS
from rooms_server.hub import Hub
from rooms_server.live import GroupGone, LiveGroups
from rooms_server.metrics import Metrics
from rooms_server.presence import Presence
from rooms_server.protocol import CloseCode, ProtocolError
from rooms_server.web.deps import session_for_token
from rooms_server.web.fast_path import direct_writer
from rooms_server.web.invites import live_invite
from rooms_server.web.origins import refusal_hint
from rooms_server.web.ws_loop import Clock, CommandLoop

log = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 10.0
CLOSE_WAIT_S = 30.0  # how long a handler waits for its close frame to reach a stalled client


class Refused(Exception):
    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def group_socket(ws: WebSocket) -> None:
    settings = cast(Settings, ws.state.settings)
    metrics = cast(Metrics, ws.state.metrics)
    await ws.accept()
    try:
        conn, hello, expires_at = await _handshake(ws, settings)
    except Refused as refused:
        metrics.socket_closed(refused.code)
        await ws.close(refused.code, refused.reason)
        return
    except WebSocketDisconnect:
        return
    except BACKEND_ERRORS as exc:
        metrics.backend_error(exc, "socket")
        metrics.socket_closed(CloseCode.UNAVAILABLE)
        await _close_unavailable(ws, exc, "handshake")
        return
    logs.socket_id.set(conn.id)
    presence = cast(Presence, ws.state.presence)
    expiry = _end_at_expiry(conn, expires_at)
    try:
        await presence.attach(conn)
        await _first_frame(ws, conn, hello)
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

    def expire() -> None:
        conn.shut_nowait(CloseCode.UNAUTHORIZED, "the token has expired")

    return asyncio.get_running_loop().call_later(delay, expire)


async def _handshake(ws: WebSocket, settings: Settings) -> tuple[Client, protocol.Hello, datetime]:
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
    hello = await _receive_hello(ws, settings)
    token = hello.token or bearer_token(ws.headers.get("authorization"))
    db = cast(Database, ws.state.db)
    signed_in = await session_for_token(db, token) if token else None
    if signed_in is None or token is None:
        raise Refused(CloseCode.UNAUTHORIZED, "a valid token is required")
    user, expires_at = signed_in
    group_id = ws.path_params["group_id"]
    async with db.read() as session:
        group = await queries.get_group(session, group_id)
        member = await queries.membership(session, group_id, user.id) if group else None
    if group is None or (member is None and not group.is_public):
        raise Refused(CloseCode.GROUP_NOT_FOUND, "no such group")
    if member is None:
        raise Refused(CloseCode.FORBIDDEN, "join the group first")
    hub = cast(Hub, ws.state.hub)
    if hub.user_connections(user.id) >= settings.limits.max_connections_per_user:
        raise Refused(CloseCode.TOO_MANY_CONNECTIONS, "too many connections for this user")
    conn = Client(
        id=uuid.uuid4().hex,
        group_id=group_id,
        user_id=user.id,
        name=user.name,
        role=member.role,
        send=ws.send_text,
        close=ws.close,
        queue_size=settings.limits.send_queue_frames,
        token_hash=hash_token(token),
        write=direct_writer(ws, enabled=settings.fast_path),
        device_key=None if hello.device_id is None else protocol.device_key(group_id, hello.device_id),
    )
    return conn, hello, expires_at


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


class _Receiver:
    """The next frame, or None once the connection is shut: a client shut as a slow consumer may
    never send again, and its departure (member_left, presence) must not wait for it.

    One waiter on the shut lives as long as the socket and cancels the receive in progress; each
    frame costs one task and an await (an ``asyncio.wait`` per frame, racing a new shut waiter,
    was a measurable part of a command's cost: docs/BENCHMARKS.md).
    """

    def __init__(self, ws: WebSocket, conn: Client) -> None:
        self.ws, self.conn = ws, conn
        self.receiving: asyncio.Future[str | bytes] | None = None
        self.shut = asyncio.ensure_future(conn.shut_down.wait())
        self.shut.add_done_callback(self._on_shut)

    def _on_shut(self, _: object) -> None:
        if self.receiving is not None:
            self.receiving.cancel()

    async def __call__(self) -> str | bytes | None:
        if self.conn.shut_down.is_set():
            return None
        receiving = self.receiving = asyncio.ensure_future(_receive_text(self.ws))
        try:
            frame = await receiving
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling() > 0:
                raise  # this reader was cancelled, not just its receive
            return None  # the shut cancelled the receive
        except Exception:
            if self.conn.shut_down.is_set():
                return None  # a disconnect after the shut no longer matters
            raise
        finally:
            self.receiving = None
        return None if self.conn.shut_down.is_set() else frame

    def close(self) -> None:
        self.shut.cancel()


async def _first_frame(ws: WebSocket, conn: Client, hello: protocol.Hello) -> None:
    """An exact replay from the client's resume point when the log has it, else a snapshot."""
    live = cast(LiveGroups, ws.state.live)
    stored, state = await live.current(conn.group_id)
    resume = hello.resume
    if resume is not None and resume.epoch == stored.epoch and resume.seq <= stored.seq:
        events = await cast(Engine, ws.state.engine).state.history(conn.group_id, resume.epoch, resume.seq)
        if events is not None:
            metrics = cast(Metrics, ws.state.metrics)
            metrics.first_frames.labels("resumed").inc()
            metrics.frames_delivered.labels("replay").inc(len(events) + 1)
            await ws.send_text(protocol.resumed(resume.epoch, resume.seq, live.now_ms()))
            for event in events:
                await ws.send_text(event.decode())
            if not conn.start(resume.epoch, resume.seq + len(events)):
                await conn.shut(CloseCode.SLOW_CONSUMER, "send queue full")
            return
    members = await cast(Presence, ws.state.presence).members(conn.group_id)
    db = cast(Database, ws.state.db)
    async with db.read() as session:
        invite = await live_invite(session, conn.group_id)
        hosting = (await hosting_queries.hostings(session, [conn.group_id])).get(conn.group_id, protocol.NO_HOST)
    history = await chat.history(db, conn.group_id)
    ratio = live.settings.vote_skip_ratio
    frame = protocol.snapshot(
        state,
        epoch=stored.epoch,
        seq=stored.seq,
        server_time=live.now_ms(),
        recovered=False,
        members=members,
        you=rooms.Member(conn.user_id, conn.name, conn.role),
        votes_needed=rooms.needed_votes(max(rooms.voters(members), 1), ratio),
        device_key=conn.device_key,
        invite=invite,
        chat=history,
        hosting=hosting,
    )
    metrics = cast(Metrics, ws.state.metrics)
    metrics.first_frames.labels("snapshot" if resume is None else "snapshot_after_resume").inc()
    metrics.frames_delivered.labels("snapshot").inc()
    await ws.send_text(frame)
    if not conn.start(stored.epoch, stored.seq):
        await conn.shut(CloseCode.SLOW_CONSUMER, "send queue full")


async def _serve(ws: WebSocket, conn: Client, settings: Settings) -> None:
    presence = cast(Presence, ws.state.presence)

    async def present_users() -> int:
        return await presence.voters(conn.group_id)

    receive = _Receiver(ws, conn)
    clock = cast(Clock, getattr(ws.state, "rate_clock", time.monotonic))
    live, metrics = cast(LiveGroups, ws.state.live), cast(Metrics, ws.state.metrics)
    try:
        await CommandLoop(conn, receive, live, settings, present_users, clock, metrics).run()
    finally:
        receive.close()


routes = [WebSocketRoute("/ws/groups/{group_id:str}", group_socket)]
