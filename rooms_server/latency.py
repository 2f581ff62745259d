"""How far ahead a room schedules its playback changes, from the round-trip times its phones report.

A change scheduled ``lead`` ms ahead reaches every phone in time only if the lead exceeds the
slowest phone's one-way delay plus its processing; a fixed 400 ms left 31 % of phones late at
300–800 ms RTT (playback.md §5). So each phone reports its recent high RTT on ``ping``
(``rtt_ms``), the engine keeps the room's largest report of the last 30–60 s (``max_report`` /
``max_recent``: shared by every process on ``redis://``), and the lead is Beatsync's rule

    lead = clamp(1.5 × high RTT + 200 ms, PLAYBACK_LEAD_MS, PLAYBACK_LEAD_MAX_MS)

with PLAYBACK_LEAD_MS (default 400) alone while no phone has reported.
"""

from __future__ import annotations

from rooms_server.engine.base import Engine

RTT_WINDOW_S = 30.0  # a report counts for 30–60 s: phones report every few seconds while connected
REPORT_EVERY_MS = 5_000  # a socket's unchanged or lower RTT is re-reported at most this often
MAX_RTT_MS = 60_000


def lead_for(high_rtt_ms: int | None, *, min_ms: int, max_ms: int) -> int:
    if high_rtt_ms is None:
        return min_ms
    return max(min_ms, min(max(max_ms, min_ms), round(1.5 * high_rtt_ms + 200)))


class RoomLatency:
    def __init__(self, engine: Engine, *, min_lead_ms: int, max_lead_ms: int) -> None:
        self.engine = engine
        self.min_lead_ms = min_lead_ms
        self.max_lead_ms = max_lead_ms

    async def report(self, group_id: str, rtt_ms: int) -> None:
        await self.engine.counters.max_report(f"rtt:{group_id}", min(max(rtt_ms, 0), MAX_RTT_MS), RTT_WINDOW_S)

    async def high_rtt_ms(self, group_id: str) -> int | None:
        return await self.engine.counters.max_recent(f"rtt:{group_id}", RTT_WINDOW_S)

    async def lead_ms(self, group_id: str) -> int:
        return lead_for(await self.high_rtt_ms(group_id), min_ms=self.min_lead_ms, max_ms=self.max_lead_ms)


def should_report(rtt_ms: int, *, last_rtt_ms: int | None, last_report_ms: float, now_ms: float) -> bool:
    """A socket reports a clearly higher RTT at once, anything else at most every REPORT_EVERY_MS."""
    if last_rtt_ms is None or now_ms - last_report_ms >= REPORT_EVERY_MS:
        return True
    return rtt_ms > last_rtt_ms + max(20, last_rtt_ms // 10)
