"""How long: ISO-8601 durations, Retry-After headers, the time until YouTube's quota resets.

ISO-8601 durations as YouTube writes them (``PT3M33S``, ``PT1H2M3S``, ``P1DT2H``, ``P0D``) are
parsed strictly: whole numbers only, at least one component, no bare ``P`` or ``PT``. Years and
months have no fixed length and never appear in video durations, so they are refused.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DURATION = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
_SECONDS = (7 * 86_400, 86_400, 3_600, 60, 1)


def iso8601_seconds(value: str) -> int:
    """Whole seconds of an ISO-8601 duration; ValueError for anything else."""
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None or value == "P":
        raise ValueError(f"not an ISO-8601 duration: {value!r}")
    return sum(int(part or 0) * unit for part, unit in zip(match.groups(), _SECONDS, strict=True))


def retry_after_seconds(value: str | None, default: int = 30) -> int:
    """A Retry-After header in seconds, bounded to [1 s, 1 day]; ``default`` when absent or a date."""
    try:
        seconds = int(str(value).strip())
    except ValueError:
        return default
    return min(max(seconds, 1), 24 * 3600)


def seconds_until_quota_reset(now: datetime | None = None) -> int:
    """YouTube's daily quota resets at midnight Pacific time."""
    try:
        zone = ZoneInfo("America/Los_Angeles")
    except ZoneInfoNotFoundError:
        return 3600
    local = (now or datetime.now(zone)).astimezone(zone)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(int((midnight - local).total_seconds()), 1)
