"""The fast path: writing ready-made frames straight to uvicorn's transport.

The hub builds one frame per event and writes the same bytes to every socket, instead of going
through Starlette, uvicorn and websockets once per socket (about 3 of the 8 µs a delivery cost,
docs/BENCHMARKS.md). This is the only module that knows those internals: Starlette passes
uvicorn's ``receive`` bound method as is (``ws._receive.__self__`` is the protocol), and uvicorn's
``WebSocketsSansIOProtocol`` holds ``conn`` (a websockets ``ServerProtocol``), ``transport``,
``writable`` and ``close_sent``. Every read is guarded: another server, another uvicorn, an
extension negotiated (permessage-deflate) or ``FAST_PATH=off`` gives None, and the socket's frames
take ``ws.send_text`` (the ASGI send). The first fallback of the process logs why, once.
"""

from __future__ import annotations

import logging
from typing import Any

from rooms_server.client import Writer

log = logging.getLogger(__name__)

_PROTOCOL_CLASS = "WebSocketsSansIOProtocol"
_logged: set[str] = set()

try:
    from websockets.protocol import State
    from websockets.server import ServerProtocol
except ImportError:  # pragma: no cover - websockets is a dependency; a release without sansio has no fast path
    State = None  # type: ignore[assignment,misc]
    ServerProtocol = None  # type: ignore[assignment,misc]


def direct_writer(ws: object, *, enabled: bool = True) -> Writer | None:
    """A writer straight to uvicorn's transport for this socket, or None (the ASGI send).

    The writer returns False whenever the bytes would not be exactly what uvicorn writes now (a
    close under way, the transport paused by backpressure or closing): the frame then queues.
    """
    if not enabled:
        _fall_back("disabled by FAST_PATH=off")
        return None
    reason, parts = _detect(ws)
    if parts is None:
        _fall_back(reason)
        return None
    proto, conn, transport, writable = parts
    open_state = State.OPEN

    def write(frame: bytes) -> bool:
        try:
            if proto.close_sent or not writable.is_set() or conn.state is not open_state or transport.is_closing():
                return False
            transport.write(frame)
        except AttributeError:  # an attribute vanished under us: the queue and the ASGI send take over
            return False
        return True

    return write


def _detect(ws: object) -> tuple[str, tuple[Any, Any, Any, Any] | None]:
    """(why not, None) or ("", the protocol's parts), reading every attribute defensively."""
    if State is None or ServerProtocol is None:
        return "websockets has no sans-I/O ServerProtocol", None
    proto = getattr(getattr(ws, "_receive", None), "__self__", None)
    # By name, so this module imports no uvicorn internals; through the MRO, because the entry
    # point serves sockets with a subclass (socket_protocol.room_socket_protocol).
    if not any(cls.__name__ == _PROTOCOL_CLASS for cls in type(proto).__mro__):
        return f"the server's protocol is {type(proto).__name__}, not uvicorn's {_PROTOCOL_CLASS}", None
    conn = getattr(proto, "conn", None)
    if not isinstance(conn, ServerProtocol):
        return "uvicorn's protocol has no websockets ServerProtocol in .conn", None
    if getattr(conn, "extensions", None) != []:
        return "a WebSocket extension is negotiated (or unknown)", None
    transport = getattr(proto, "transport", None)
    writable = getattr(proto, "writable", None)
    # uvicorn's asyncio.Event, or socket_protocol.Flag in its place: what is read is is_set().
    if not callable(getattr(writable, "is_set", None)) or not callable(getattr(transport, "write", None)):
        return "uvicorn's protocol has no transport.write or writable event", None
    if not callable(getattr(transport, "is_closing", None)) or not isinstance(getattr(proto, "close_sent", None), bool):
        return "uvicorn's protocol has no close_sent flag or transport.is_closing", None
    if not hasattr(conn, "state"):
        return "the ServerProtocol has no state", None
    return "", (proto, conn, transport, writable)


def _fall_back(reason: str) -> None:
    if reason not in _logged:
        _logged.add(reason)
        log.info("room sockets use the ASGI send, not the fast path: %s", reason)
