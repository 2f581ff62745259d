"""This process's sockets and the fan-out to them.

The engine calls ``on_event`` once per event of a group this process holds sockets for; the hub
builds the WebSocket frame once and writes the same bytes to every socket whose queue is empty and
whose transport takes it now (the direct path); the others get the text on their bounded queue.
Fan-out never awaits a socket (rooms_server/client.py): a client whose queue is full is closed as
a slow consumer (it resumes on reconnect).

After the fan-out the event is decoded once: the hub reacts to the socket effects itself (role
changes update the affected sockets, removals and a deleted group close them once the explaining
event is written) and hands the event to the reactors registered with ``react`` (timers, follow),
wired in app.py. A reset (the group's history is lost) closes the group's sockets with 4010.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from rooms_server.client import Client, text_frame
from rooms_server.metrics import Metrics
from rooms_server.protocol import CloseCode

log = logging.getLogger(__name__)

# Called as reactor(group_id, event) once per event of a group this process holds, after the fan-out.
Reactor = Callable[[str, Mapping[str, Any]], None]


def revoked_signal(token_hash: str) -> bytes:
    """The process-wide message that ends every socket of a revoked token (see Hub.on_signal)."""
    return orjson.dumps({"type": "revoked", "token_hash": token_hash})


class Hub:
    """Registry of this process's connections per group, fed by the engine's callbacks."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics or Metrics()
        self._delivered = self.metrics.frames_delivered.labels("event")
        self.groups: dict[str, set[Client]] = defaultdict(set)
        # Sockets per user, kept as they come and go: the handshake checks the per-user limit, and
        # counting by a pass over every socket made a join storm of N phones O(N²).
        self._per_user: Counter[str] = Counter()
        self._reactors: list[Reactor] = []

    def react(self, reactor: Reactor) -> None:
        """Call ``reactor(group_id, event)`` for every event of a group this process holds."""
        self._reactors.append(reactor)

    def add(self, conn: Client) -> bool:
        """Register a connection; True when it is this process's first for the group."""
        first = not self.groups.get(conn.group_id)
        conns = self.groups[conn.group_id]
        if conn not in conns:
            conns.add(conn)
            self._per_user[conn.user_id] += 1
        return first

    def remove(self, conn: Client) -> bool:
        """Forget a connection; True when it was this process's last for the group."""
        conns = self.groups.get(conn.group_id)
        if conns is None or conn not in conns:
            return False
        conns.remove(conn)
        self._per_user[conn.user_id] -= 1
        if not self._per_user[conn.user_id]:
            del self._per_user[conn.user_id]
        if not conns:
            del self.groups[conn.group_id]
            return True
        return False

    def connections(self, group_id: str) -> list[Client]:
        return list(self.groups.get(group_id, ()))

    def user_connections(self, user_id: str) -> int:
        return self._per_user[user_id]

    def fast_path_count(self) -> int:
        """Sockets written straight to the transport (rooms_server/web/fast_path.py)."""
        return sum(1 for conns in self.groups.values() for c in conns if c.write is not None)

    def socket_count(self) -> int:
        return sum(len(conns) for conns in self.groups.values())

    # -- engine callbacks (must not block) -------------------------------------------------------

    def on_event(self, group_id: str, epoch: str, seq: int, data: bytes) -> None:
        conns = self.groups.get(group_id)
        if not conns:
            return
        text = data.decode()
        frame = text_frame(data)  # the same bytes on every socket: no compression, server frames are unmasked
        delivered = 0
        for conn in list(conns):
            if conn.closed:
                continue
            if conn.push(epoch, seq, text, frame):
                delivered += 1
            else:
                conn.shut_nowait(CloseCode.SLOW_CONSUMER, "send queue full")
        self._delivered.inc(delivered)
        event = orjson.loads(data)
        if isinstance(event, dict):
            self._react(group_id, event)

    def on_signal(self, message: bytes) -> None:
        """A process-wide message (Engine.broadcast): a revoked token ends its sockets here at once."""
        try:
            signal = orjson.loads(message)
        except orjson.JSONDecodeError:
            log.warning("ignoring an unreadable process-wide message")
            return
        if isinstance(signal, dict) and signal.get("type") == "revoked":
            token_hash = signal.get("token_hash")
            for conns in self.groups.values():
                for conn in list(conns):
                    if conn.token_hash == token_hash and not conn.closed:
                        conn.shut_nowait(CloseCode.UNAUTHORIZED, "the token was revoked")

    def on_reset(self, group_id: str) -> None:
        """The group's history broke (Redis lost it, or a gap could not be filled): make clients reconnect.

        They come back with their resume point, get ``recovered: false`` and a fresh snapshot of
        the state rebuilt from SQL.
        """
        for conn in self.connections(group_id):
            if not conn.closed:
                conn.shut_nowait(CloseCode.RESYNC, "history lost; reconnect for a snapshot")

    def _react(self, group_id: str, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind == "role_changed":
            for conn in self.connections(group_id):
                if conn.user_id == event.get("user_id"):
                    conn.role = str(event.get("role"))
        elif kind == "member_removed":
            for conn in self.connections(group_id):
                if conn.user_id == event.get("user_id"):
                    conn.close_after_flush(CloseCode.FORBIDDEN, "removed from the group")
        elif kind == "group_deleted":
            for conn in self.connections(group_id):
                conn.close_after_flush(CloseCode.GROUP_DELETED, "group deleted")
        for reactor in self._reactors:
            try:
                reactor(group_id, event)
            except Exception:
                log.exception("a reactor failed on a %s event of group %s", kind, group_id)

    async def close_all(self, code: int, reason: str) -> None:
        await asyncio.gather(*(c.shut(code, reason) for conns in self.groups.values() for c in conns))
