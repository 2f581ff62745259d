"""ISO-8601 durations as the YouTube Data API writes them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from rooms_server.sources.durations import iso8601_seconds, retry_after_seconds, seconds_until_quota_reset


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT3M33S", 213),
        ("PT1H2M3S", 3723),
        ("PT45S", 45),
        ("PT10M", 600),
        ("PT2H", 7200),
        ("P1DT2H", 93_600),
        ("P1W", 604_800),
        ("P0D", 0),
        ("PT0S", 0),
    ],
)
def test_durations_parse_youtube_forms(text: str, seconds: int) -> None:
    assert iso8601_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "P", "PT", "P1DT", "PT1.5S", "3:33", "PT-1S", "P1Y", "P1M", "pt3m", "PT3M33"])
def test_durations_refuse_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        iso8601_seconds(text)


def test_durations_quota_resets_at_midnight_pacific() -> None:
    pacific = ZoneInfo("America/Los_Angeles")
    assert seconds_until_quota_reset(datetime(2026, 3, 2, 23, 59, 0, tzinfo=pacific)) == 60
    assert seconds_until_quota_reset(datetime(2026, 3, 2, 0, 0, 0, tzinfo=pacific)) == 86_400


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7), (" 120 ", 120), ("0", 1), ("999999", 86_400), (None, 30), ("Wed, 21 Oct 2026 07:28:00 GMT", 30)],
)
def test_durations_retry_after_is_bounded(header: str | None, seconds: int) -> None:
    assert retry_after_seconds(header) == seconds
