"""The server clock: monotonic, never stepping, slewing slowly towards the wall clock."""

from __future__ import annotations

import pytest

from rooms_server.clock import MAX_SLEW, ServerClock


class Hands:
    """A wall clock and a monotonic clock the test moves by hand."""

    def __init__(self, wall: float = 1_700_000_000.0) -> None:
        self.wall = wall
        self.mono = 100.0

    def tick(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds

    def clock(self, **kwargs: float) -> ServerClock:
        return ServerClock(wall=lambda: self.wall, monotonic=lambda: self.mono, **kwargs)


def test_clock_starts_on_the_wall_clock_and_advances_with_monotonic_time() -> None:
    hands = Hands()
    clock = hands.clock()
    assert clock.now_ms() == 1_700_000_000_000
    hands.tick(2.5)
    assert clock.now_ms() == 1_700_000_002_500


def test_clock_does_not_step_when_the_wall_clock_is_corrected() -> None:
    hands = Hands()
    clock = hands.clock()
    hands.tick(1.0)
    before = clock.now()
    hands.wall += 0.4  # an NTP step of +400 ms
    hands.tick(1.0)
    # One second later the clock moved one second plus at most the slew, not 400 ms more.
    assert clock.now() - before == pytest.approx(1.0 + MAX_SLEW, abs=1e-6)
    hands.wall -= 5.0  # and a step backwards never makes it go back
    hands.tick(0.001)
    assert clock.now() > before


def test_clock_converges_on_the_corrected_wall_clock_by_slewing() -> None:
    hands = Hands()
    clock = hands.clock()
    hands.wall += 0.4
    for _ in range(900):  # 900 s at 0.5 ms/s absorbs the 400 ms step
        hands.tick(1.0)
        clock.now()
    assert clock.now() == pytest.approx(hands.wall, abs=1e-6)


def test_clock_is_monotonic_whatever_the_wall_clock_does() -> None:
    hands = Hands()
    clock = hands.clock()
    last = clock.now()
    for step, jump in [(0.01, -3.0), (0.0, 0.0), (0.2, 7.0), (0.001, -0.5)] * 50:
        hands.tick(step)
        hands.wall += jump
        now = clock.now()
        assert now >= last
        last = now


def test_clock_refuses_an_absurd_slew() -> None:
    with pytest.raises(ValueError):
        Hands().clock(max_slew=1.0)
