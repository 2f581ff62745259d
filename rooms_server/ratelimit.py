"""Fixed-window rate limits on the engine's shared counter (``Engine.hit``).

On ``redis://`` a limit holds across every process of the deployment; on ``memory://`` per process.
A limit of 0 turns the check off. Limits here guard entry points (connection attempts per IP,
invite joins per IP and per invite); the per-connection command rate is the socket's token bucket.
"""

from __future__ import annotations

import logging
import math

from rooms_server.engine.base import Engine
from rooms_server.errors import ApiError

WINDOW_S = 60.0

log = logging.getLogger(__name__)


async def exceeded(engine: Engine, bucket: str, key: str, per_minute: int) -> bool:
    """Count one attempt of ``key`` in ``bucket``; True when it is beyond ``per_minute`` in this minute."""
    if per_minute <= 0:
        return False
    try:
        return await engine.counters.hit(f"{bucket}:{key}", WINDOW_S) > per_minute
    except Exception as exc:  # fail open: an engine outage must not lock everyone out (it is reported elsewhere)
        log.warning("rate limit %s not counted: %s", bucket, type(exc).__name__)
        return False


class RateLimited(ApiError):
    """HTTP 429 ``rate_limited`` with Retry-After: the window's length, an upper bound of the wait."""

    def __init__(self, message: str) -> None:
        super().__init__(429, "rate_limited", message)
        self.headers = {"Retry-After": str(math.ceil(WINDOW_S))}
