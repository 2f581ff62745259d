"""How the process serves: uvicorn's options, and HTTP connections that cannot be held open forever.

uvicorn has no deadline for a request's headers or body, and its ``limit_concurrency`` only
answers 503 once a request's headers are complete: 2,000 slowloris connections that never finish
their headers were all held. ``BoundedHttpProtocol`` adds both deadlines and refuses connections
beyond a cap the moment they open. It is the only module that knows uvicorn's HTTP protocol
internals (``HttpToolsProtocol``'s callbacks, its ``connections`` set); it checks for them at import
and, if a uvicorn release renamed them, serves with uvicorn's own protocol and logs that the
deadlines are off (a reverse proxy then has to provide them: docs/OPERATIONS.md).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
# How long a connection answered 408 stays half-closed, its further data read and dropped, before it
# is closed (nginx's lingering close): closing a socket with unread data makes the kernel send a
# reset, and a reset can destroy the 408 before the client has read it.
LINGER_S = 5.0
TOO_MANY = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\nretry-after: 5\r\n\r\n"


# The cyclic collector's thresholds while serving (Python's are 700, 10, 10). A join storm allocates
# a handful of long-lived containers per phone (its socket, client, tasks, frames), and at 700 the
# young generation is collected every few phones, each object traversed again and again on its way
# to the old one: 6-7 % of a 1000-phone storm (3.75 s against 3.44-3.55 s; docs/BENCHMARKS.md).
# Garbage waits longer for its collection too: 5000 costs ~0.35 KB per idle socket at 2000 (20 000
# cost 0.9 KB for no faster a storm).
GC_THRESHOLDS = (5_000, 20, 100)


def tune_gc() -> None:
    """Before serving: what the app built at start-up (modules, routes, compiled statements) is kept
    out of every later collection (``gc.freeze``), and collections come less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@dataclass(frozen=True, slots=True)
class HttpBounds:
    header_timeout_s: float = 10.0  # from connect (or the previous response) to the end of the headers
    body_timeout_s: float = 30.0  # from the end of the headers to the end of the body
    max_connections: int = 16384  # open HTTP and WebSocket connections of this process


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    _HOOKS = ("connection_made", "connection_lost", "data_received", "on_headers_complete", "on_message_complete")
    _FENCED = all(callable(getattr(HttpToolsProtocol, name, None)) for name in _HOOKS)
except ImportError:  # httptools missing (uvicorn without [standard])
    _FENCED = False


def bounded_http_protocol(bounds: HttpBounds) -> type[asyncio.Protocol] | None:
    """The protocol class to give uvicorn as ``http=``; None: uvicorn's default (deadlines off)."""
    if not _FENCED:
        log.warning("uvicorn's HTTP protocol is not the expected one: HTTP header and body deadlines are off")
        return None

    class BoundedHttpProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._deadline: asyncio.TimerHandle | None = None
            self._lingering = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            # self.connections is the server's set of every open connection (WebSockets included).
            if len(self.connections) >= bounds.max_connections:
                transport.write(TOO_MANY)
                transport.close()
                return
            super().connection_made(transport)
            self._arm(bounds.header_timeout_s)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self.transport is not None:  # None: refused in connection_made
                super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if not self._lingering:  # after a 408, what the client still sends is dropped unparsed
                super().data_received(data)

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()
            if not self.parser.should_upgrade():  # a WebSocket has its own keepalive and limits
                self._arm(bounds.body_timeout_s)

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # The next request's headers are due in time too, unless a pipelined one is already running.
            idle = self.cycle is None or self.cycle.response_complete
            if idle and not self.transport.is_closing():
                self._arm(bounds.header_timeout_s)

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(REQUEST_TIMEOUT)  # no response under way: say why before closing
                self._linger()
            else:
                self.transport.close()

        def _linger(self) -> None:
            self._lingering = True
            if self.transport.can_write_eof():
                self.transport.write_eof()  # the client reads the 408, then the end of the stream
            self._deadline = self.loop.call_later(LINGER_S, self.transport.close)

    return BoundedHttpProtocol
