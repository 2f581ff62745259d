"""Prometheus metrics of one server process (``prometheus_client``), served at ``/metrics``.

Each process keeps its own registry and is scraped on its own (every process is a target; the
scrape adds its ``instance`` label), so nothing is shared between processes and nothing needs
prometheus_client's multiprocess mode: counters are this process's, and a deployment's total is a
``sum()`` across targets. Gauges of what is live (sockets, groups) are read from the hub at scrape
time, so they are exact rather than incremented. See docs/OPERATIONS.md for every name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from rooms_server.db import errors as db_errors
from rooms_server.protocol import CloseCode

# Command latency: from the frame's arrival to its answer; SQLite commits take ~1 ms, a lock wait
# behind a dead holder seconds.
COMMAND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LOCK_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _LiveGauges(Collector):
    """Open sockets and live groups of this process, read when scraped."""

    def __init__(self, sockets: Callable[[], int], groups: Callable[[], int], fast: Callable[[], int]) -> None:
        self._sockets, self._groups, self._fast = sockets, groups, fast

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("rooms_open_sockets", "Room sockets open on this process.", value=self._sockets())
        yield GaugeMetricFamily(
            "rooms_live_groups", "Groups with at least one socket on this process.", value=self._groups()
        )
        yield GaugeMetricFamily(
            "rooms_fast_path_sockets",
            "Room sockets written straight to uvicorn's transport (web/fast_path.py); the rest use the ASGI send.",
            value=self._fast(),
        )


class Metrics:
    """The counters and histograms the server updates, in a registry of its own."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series only add noise to every scrape
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # CPU, memory, open files of this process
        self.events_published = Counter(
            "rooms_events_published", "Events this process committed to the engine (logged and fanned out).", registry=r
        )
        self.frames_delivered = Counter(
            "rooms_frames_delivered",
            "Frames handed to this process's sockets: kind 'event' (live fan-out), 'replay' (resumed and "
            "the missed events), 'snapshot'.",
            ["kind"],
            registry=r,
        )
        self.command_seconds = Histogram(
            "rooms_command_duration_seconds",
            "Time from a command's arrival to its answer, by command type.",
            ["command"],
            buckets=COMMAND_BUCKETS,
            registry=r,
        )
        self.command_results = Counter(
            "rooms_command_results",
            "Answers to socket commands: result is 'ack' or the error code.",
            ["command", "result"],
            registry=r,
        )
        self.first_frames = Counter(
            "rooms_first_frames",
            "First frames of sockets: 'resumed' (exact replay), 'snapshot' (no resume asked), "
            "'snapshot_after_resume' (the resume point could not be honoured).",
            ["kind"],
            registry=r,
        )
        self.socket_closes = Counter(
            "rooms_socket_closes",
            "Sockets the server closed or refused, by close code and reason (4008 slow_consumer, …).",
            ["code", "reason"],
            registry=r,
        )
        self.backend_errors = Counter(
            "rooms_backend_errors",
            "Errors from the live engine (Redis) or the database, by where they surfaced.",
            ["backend", "where"],
            registry=r,
        )
        self.lock_wait_seconds = Histogram(
            "rooms_lock_wait_seconds",
            "Time spent acquiring a group's lock before a change (across processes on redis://).",
            buckets=LOCK_BUCKETS,
            registry=r,
        )

    def watch(
        self, sockets: Callable[[], int], groups: Callable[[], int], fast_path: Callable[[], int] = lambda: 0
    ) -> None:
        """Report live sockets, groups and fast-path sockets from these callables (the hub's counts)."""
        self.registry.register(_LiveGauges(sockets, groups, fast_path))

    def socket_closed(self, code: int) -> None:
        try:
            reason = CloseCode(code).name.lower()
        except ValueError:
            reason = "other"
        self.socket_closes.labels(str(code), reason).inc()

    def command_done(self, command: str, result: str, seconds: float) -> None:
        """One answered socket command: ``result`` is 'ack' or the error code."""
        self.command_seconds.labels(command).observe(seconds)
        self.command_results.labels(command, result).inc()

    def backend_error(self, exc: BaseException, where: str) -> None:
        """Count ``exc`` if it came from the engine or the database; anything else is not a backend error."""
        backend = backend_of(exc)
        if backend is not None:
            self.backend_errors.labels(backend, where).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def backend_of(exc: BaseException) -> str | None:
    """'engine', 'database' or None, looking through the exception's causes."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, RedisError):
            return "engine"
        if db_errors.is_database_error(seen):
            return "database"
        seen = seen.__cause__ or seen.__context__
    return None
