"""Logging an operator can use: human lines by default, one JSON object per line with ``LOG_FORMAT=json``.

Every record carries what is known of where it happened — the HTTP request id, the socket id and
the group id — from context variables that the request middleware (``web/context.py``) and the room
socket set; a task started from there inherits them. The uvicorn loggers go through the same
handler, with capability URLs redacted (``logredact``) and client protocol faults reduced to one line
without a traceback, so a hostile client cannot fill the disk with stack traces.
"""

from __future__ import annotations

import asyncio
import logging
import logging.config
import time
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from rooms_server.logredact import RedactUrls

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
socket_id: ContextVar[str | None] = ContextVar("socket_id", default=None)
group_id: ContextVar[str | None] = ContextVar("group_id", default=None)
_CONTEXT = (("request_id", request_id), ("socket_id", socket_id), ("group_id", group_id))

HUMAN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_NAMES = {"asctime": "time", "levelname": "level", "name": "logger"}
# Record attributes that are not fields: our text suffix, and uvicorn's ANSI-coloured copy of the message.
JSON_SKIPPED = (*RESERVED_ATTRS, "context", "color_message")

# uvicorn logs these with a traceback although the fault is the client's; the socket is closed anyway.
CLIENT_FAULTS = ("Invalid UTF-8 sequence received from client",)
# SQLAlchemy's pool logs this with a traceback when a handler is cancelled mid-query, which is what
# happens when a client vanishes (or uvicorn closes it for an oversized frame) while it waits.
CANCELLED_RESET = "Exception during reset or similar"
# uvicorn's socket access lines (SocketAccessFilter).
SOCKET_ACCESS = ("connection open", "connection closed")
SOCKET_ACCESS_LINE = '%s - "WebSocket '
# Where socket_protocol.room_socket_protocol sends uvicorn's socket lines: at WARNING without the access log.
SOCKET_LOGGER = "uvicorn.error.sockets"


class ContextFilter(logging.Filter):
    """Copies the context variables onto the record: as fields (JSON) and as a ``context`` suffix (text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        parts = []
        for name, var in _CONTEXT:
            value = var.get()
            if value is not None:
                setattr(record, name, value)
                parts.append(f"{name.removesuffix('_id')}={value}")
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return True


class ClientFaultFilter(logging.Filter):
    """One WARNING line, no traceback, for faults of a client's making that uvicorn logs as errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str):
            return True
        cancelled = record.exc_info is not None and isinstance(record.exc_info[1], asyncio.CancelledError)
        if record.msg.startswith(CLIENT_FAULTS) or (cancelled and record.msg.startswith(CANCELLED_RESET)):
            if cancelled:
                record.msg = f"{record.msg} (the request was cancelled: its client went away)"
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class SocketAccessFilter(logging.Filter):
    """Drops uvicorn's line per room socket (``"WebSocket /ws/…" [accepted]``, ``connection open``,
    ``connection closed``): they are its access log for sockets but go to ``uvicorn.error``, so
    ACCESS_LOG=false did not silence them — three lines per phone of a join storm."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not isinstance(record.msg, str):
            return True
        return not (record.msg in SOCKET_ACCESS or record.msg.startswith(SOCKET_ACCESS_LINE))


class UtcJsonFormatter(JsonFormatter):
    """``time`` as ISO-8601 UTC with milliseconds, whatever the server's time zone."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def config_dict(log_format: str = "text", level: str = "INFO", *, access_log: bool = True) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the root and the uvicorn loggers (they do not propagate);
    without ``access_log``, no line per request or per socket."""
    formatter: dict[str, Any] = (
        {"()": UtcJsonFormatter, "fmt": JSON_FIELDS, "rename_fields": JSON_NAMES, "reserved_attrs": JSON_SKIPPED}
        if log_format == "json"
        else {"format": HUMAN_FORMAT}
    )
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "default",
        "filters": ["context", "redact", "client_faults"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "filters": {
            "context": {"()": ContextFilter},
            "redact": {"()": RedactUrls},
            "client_faults": {"()": ClientFaultFilter},
            "socket_access": {"()": SocketAccessFilter},
        },
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            name: {
                "handlers": ["default"],
                "level": level,
                "propagate": False,
                "filters": [] if access_log or name != "uvicorn.error" else ["socket_access"],
            }
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        }
        | {SOCKET_LOGGER: {"level": "NOTSET" if access_log else "WARNING", "propagate": True}},
    }


def configure(log_format: str = "text", level: str = "INFO", *, access_log: bool = True) -> None:
    logging.config.dictConfig(config_dict(log_format, level, access_log=access_log))
