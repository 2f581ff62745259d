"""Backend failures as one family: what cannot be answered right now, and when to try again.

Every engine (Redis) or database error that means "the backend cannot answer at the moment" is
recognised here and nowhere else: the room socket answers the command with an ``unavailable``
error carrying ``retry_after_ms`` (or closes with 4013 when the socket cannot go on), HTTP answers
503 ``unavailable`` with ``Retry-After``. Anything else is a bug and keeps its traceback.
``classify`` is the single place a metric of outages can hook into.
"""

from __future__ import annotations

import logging
from typing import Literal

from redis import exceptions as redis_errors

from rooms_server.db import errors as db_errors

log = logging.getLogger(__name__)

Backend = Literal["engine", "database"]
RETRY_AFTER_MS = 1000  # a hint, not a promise: outages last from a lock wait to a restart

# The exception classes a failure may arrive as; web handlers and the socket catch these and classify.
ENGINE_ERRORS: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,  # also BusyLoadingError (a restarted Redis loading its data)
    redis_errors.TimeoutError,
    redis_errors.TryAgainError,
    redis_errors.ClusterDownError,  # also MasterDownError: a cluster failing over
    redis_errors.SlotNotCoveredError,  # a slot whose primary is gone and not yet replaced
    redis_errors.ReadOnlyError,  # a replica promoted away from under us
)
# The database's exception classes and their meaning belong to the database layer.
DATABASE_ERRORS = db_errors.DATABASE_ERRORS


class Unavailable(Exception):
    """The engine or the database cannot answer now; the same request may succeed later."""

    def __init__(self, backend: Backend, detail: str, retry_after_ms: int = RETRY_AFTER_MS) -> None:
        super().__init__(f"{backend} unavailable: {detail}")
        self.backend = backend
        self.detail = detail
        self.retry_after_ms = retry_after_ms

    @property
    def message(self) -> str:
        what = "the live room service" if self.backend == "engine" else "the database"
        return f"{what} is unavailable right now; try again"


BACKEND_ERRORS: tuple[type[BaseException], ...] = (Unavailable, *ENGINE_ERRORS, *DATABASE_ERRORS)


def classify(exc: BaseException) -> Unavailable | None:
    """The Unavailable this exception means, or None when it is not a backend outage."""
    if isinstance(exc, Unavailable):
        return exc
    if isinstance(exc, ENGINE_ERRORS):
        return Unavailable("engine", _describe(exc))
    what = db_errors.outage(exc)
    if what is None:
        return None
    return Unavailable("database", what if isinstance(what, str) else _describe(what))


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def report(failure: Unavailable, where: str) -> None:
    """One concise line per failure: an outage is expected operation, not a bug with a traceback."""
    log.warning("%s: %s", where, failure)


def log_error(logger: logging.Logger, exc: BaseException, what: str) -> None:
    """For background work: one line for an outage, the traceback for anything else (a bug)."""
    failure = classify(exc)
    if failure is not None:
        logger.warning("%s: %s", what, failure)
    else:
        logger.error("%s", what, exc_info=exc)
