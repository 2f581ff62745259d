"""The server's clock: milliseconds since the Unix epoch that never jump.

Every timestamp a phone sees (``server_time_ms`` of a playback clock, ``pong.server_time``, event
``ts``) comes from one ``ServerClock``. It is the monotonic clock anchored on the wall clock when
the process starts, so an NTP step or a manual change of the wall clock does not move a room that
is playing: phones schedule starts and pauses on this clock, and a 400 ms step would otherwise
shift every scheduled instant by 400 ms at once (playback.md §5).

The wall clock is still followed, slowly: the anchor is slewed towards it by at most ``max_slew``
(500 ppm, the kernel's own slew limit, i.e. 0.5 ms per second), so a process that started before
a correction converges on the corrected time within minutes (a 400 ms step: 800 s) without ever
stepping, and processes of one deployment agree as well as their hosts' clocks do. Phones see the
slew as a drift well inside what their estimator allows for.

Both time sources are injected, so tests drive the clock by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable

MAX_SLEW = 0.0005  # seconds of correction per second of monotonic time


class ServerClock:
    def __init__(
        self,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        max_slew: float = MAX_SLEW,
    ) -> None:
        if not 0 <= max_slew < 1:
            raise ValueError(f"max_slew must be within [0, 1), got {max_slew}")
        self._wall = wall
        self._monotonic = monotonic
        self._max_slew = max_slew
        self._last = monotonic()
        self._offset = wall() - self._last  # wall time = monotonic time + offset

    def now(self) -> float:
        """Seconds since the Unix epoch; never decreases, never jumps."""
        mono = self._monotonic()
        elapsed = mono - self._last
        if elapsed > 0:
            self._last = mono
            error = (self._wall() - mono) - self._offset
            allowed = self._max_slew * elapsed
            self._offset += max(-allowed, min(allowed, error))
        return self._last + self._offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)
