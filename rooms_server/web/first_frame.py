"""A room socket's first frame: an exact replay from its resume point, else a snapshot.

The snapshot reads everything SQL holds about the room in one transaction (each costs a pooled
connection, BEGIN and COMMIT, and a join storm builds one per phone) and lists a bounded page of
the members present (presence.py).
"""

from __future__ import annotations

from typing import cast

from starlette.websockets import WebSocket

from rooms_server import chat, protocol, rooms
from rooms_server.client import Client
from rooms_server.db import hosting as hosting_queries
from rooms_server.db.session import Database
from rooms_server.engine.base import Engine
from rooms_server.live import LiveGroups
from rooms_server.metrics import Metrics
from rooms_server.presence import Presence
from rooms_server.protocol import CloseCode
from rooms_server.web.invites import live_invite


async def first_frame(ws: WebSocket, conn: Client, hello: protocol.Hello) -> None:
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
    presence = cast(Presence, ws.state.presence)
    async with cast(Database, ws.state.db).read_core() as session:
        members, count, voters = await presence.listed(session, conn.group_id)
        invite = await live_invite(session, conn.group_id)
        hosting = await hosting_queries.hosting(session, conn.group_id) or protocol.NO_HOST
        history = await chat.history(session, conn.group_id)
    ratio = live.settings.vote_skip_ratio
    frame = protocol.snapshot(
        state,
        epoch=stored.epoch,
        seq=stored.seq,
        server_time=live.now_ms(),
        recovered=False,
        members=members,
        member_count=count,
        you=rooms.Member(conn.user_id, conn.name, conn.role),
        votes_needed=rooms.needed_votes(max(voters, 1), ratio),
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
