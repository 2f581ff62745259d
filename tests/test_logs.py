"""Logs an operator can use, read from a real ``python -m rooms_server`` process.

JSON lines with time, level, logger, message and the request/socket/group ids; no access log in
production unless ACCESS_LOG=1; one line naming a refused origin and the setting that allows it;
hostile frames cost one short line each, never a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import socket
import sys
import urllib.request
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from rooms_server import logs, socket_protocol
from tests.servers import Cluster

FERNET_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
PRODUCTION = {"LOG_FORMAT": "json", "ROOMS_ENV": "production", "TOKEN_ENCRYPTION_KEYS": FERNET_KEY}
StartLocal = Callable[..., Cluster]


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 5.2) with a zero mask, for payloads under 126 bytes."""
    return bytes((0x80 | opcode, 0x80 | len(payload))) + b"\0\0\0\0" + payload


def _open_socket(cluster: Cluster, group_id: str, token: str, origin: str | None = None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", cluster[0].port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    headers = f"Origin: {origin}\r\n" if origin else ""
    sock.sendall(
        f"GET /ws/groups/{group_id} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{headers}\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    sock.sendall(_frame(1, json.dumps({"type": "hello", "token": token}).encode()))
    return sock


def _read_until_closed(sock: socket.socket) -> None:
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass
    sock.close()


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_logs_json_lines_in_production_without_access_log(start_local: StartLocal) -> None:
    cluster = start_local(**PRODUCTION)
    user = cluster.api(0).call("POST", "/api/users", {"name": "Ann"})
    group = cluster.api(0).call("POST", "/api/groups", {"name": "Room"}, user["token"])
    _read_until_closed(_open_socket(cluster, group["id"], user["token"], origin="http://192.168.1.20:8000"))
    invalid = 50
    for _ in range(invalid):  # invalid UTF-8 in a text frame: uvicorn closes with 1007 and logs it
        sock = _open_socket(cluster, group["id"], user["token"])
        sock.sendall(_frame(1, b"\xff\xfe"))
        _read_until_closed(sock)
    cluster.stop()
    text = cluster[0].log()

    records = _json_lines(text)  # every line is one JSON object
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert all(r["time"].endswith("Z") and "T" in r["time"] for r in records)
    assert not [r for r in records if {"context", "color_message"} & set(r)]  # fields only, no duplicates
    assert not [r for r in records if r["logger"] == "uvicorn.access"]  # off by default in production
    socket_lines = [r for r in records if r["message"] == "connection open" or '"WebSocket ' in r["message"]]
    assert not socket_lines  # nor uvicorn's line per socket
    refused = [r for r in records if "refused a room socket" in r["message"]]
    assert len(refused) == 1
    assert "http://192.168.1.20:8000" in refused[0]["message"] and "ALLOWED_ORIGINS=" in refused[0]["message"]
    assert refused[0]["group_id"] == group["id"] and refused[0]["request_id"]
    faults = [r for r in records if "Invalid UTF-8" in r["message"]]
    assert len(faults) == invalid and {r["level"] for r in faults} == {"WARNING"}
    assert "Traceback" not in text and not any("exc_info" in r for r in records)
    fault_bytes = sum(len(json.dumps(r)) for r in faults) / invalid
    assert fault_bytes < 400  # one short line per hostile frame, not a ~1 KB traceback


def test_logs_access_log_on_request_with_request_ids(start_local: StartLocal) -> None:
    cluster = start_local(**PRODUCTION, ACCESS_LOG="1")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = f"{cluster[0].base_url}/healthz"
    with opener.open(urllib.request.Request(url, headers={"X-Request-ID": "proxy-42"}), timeout=5) as response:
        assert response.headers["X-Request-ID"] == "proxy-42"
    with opener.open(url, timeout=5) as response:
        minted = response.headers["X-Request-ID"]
    cluster.stop()
    access = [r for r in _json_lines(cluster[0].log()) if r["logger"] == "uvicorn.access"]
    assert [r["request_id"] for r in access if "/healthz" in r["message"]][-2:] == ["proxy-42", minted]


def test_logs_text_lines_carry_the_context_suffix() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    handler.setFormatter(logging.Formatter(logs.HUMAN_FORMAT))
    logger = logging.getLogger("tests.logs.text")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        token = logs.socket_id.set("abc")
        group = logs.group_id.set("g1")
        logger.warning("hello")
        logs.socket_id.reset(token)
        logs.group_id.reset(group)
        logger.warning("plain")
    finally:
        logger.removeHandler(handler)
    first, second = stream.getvalue().splitlines()
    assert first.endswith("tests.logs.text: hello [socket=abc group=g1]")
    assert second.endswith("tests.logs.text: plain")


def test_logs_client_faults_lose_their_traceback() -> None:
    record = logging.LogRecord(
        "uvicorn.error", logging.ERROR, __file__, 1, "Invalid UTF-8 sequence received from client.", None, None
    )
    try:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    except UnicodeDecodeError:
        record.exc_info = sys.exc_info()
    assert logs.ClientFaultFilter().filter(record)
    assert record.exc_info is None and record.levelname == "WARNING"
    other = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application", None, None)
    assert logs.ClientFaultFilter().filter(other) and other.levelname == "ERROR"


def test_logs_a_pool_reset_cancelled_with_its_client_loses_its_traceback() -> None:
    record = logging.LogRecord(
        "sqlalchemy.pool.impl.AsyncAdaptedQueuePool",
        logging.ERROR,
        __file__,
        1,
        "Exception during reset or similar",
        None,
        None,
    )
    try:
        raise asyncio.CancelledError
    except asyncio.CancelledError:
        record.exc_info = sys.exc_info()
    assert logs.ClientFaultFilter().filter(record)
    assert record.exc_info is None and record.levelname == "WARNING" and "client went away" in record.getMessage()


def test_logs_socket_access_lines_go_with_the_access_log() -> None:
    def record(msg: str, level: int = logging.INFO) -> logging.LogRecord:
        return logging.LogRecord("uvicorn.error", level, __file__, 1, msg, ("127.0.0.1:5", "/ws/groups/x"), None)

    quiet = logs.SocketAccessFilter()
    assert not quiet.filter(record('%s - "WebSocket %s" [accepted]'))
    assert not quiet.filter(record("connection open")) and not quiet.filter(record("connection closed"))
    assert quiet.filter(record("Application startup complete."))
    assert quiet.filter(record('%s - "WebSocket %s" 403', logging.WARNING))
    loggers = logs.config_dict(access_log=False)["loggers"]
    assert loggers["uvicorn.error"]["filters"] == ["socket_access"]
    assert logs.config_dict(access_log=True)["loggers"]["uvicorn.error"]["filters"] == []


def test_logs_socket_lines_without_access_log_are_never_made() -> None:
    quiet = socket_protocol.room_socket_protocol()
    assert not isinstance(quiet, str) and issubclass(quiet, WebSocketsSansIOProtocol)
    # INFO (uvicorn's "[accepted]" line) is dropped by the level, before a record is made; errors
    # propagate to uvicorn.error's handlers (the production test above sees them).
    quiet_loggers = logs.config_dict(access_log=False)["loggers"]
    assert quiet_loggers[logs.SOCKET_LOGGER] == {"level": "WARNING", "propagate": True}
    assert logs.SOCKET_LOGGER.startswith("uvicorn.error.")
    assert logs.config_dict(access_log=True)["loggers"][logs.SOCKET_LOGGER]["level"] == "NOTSET"
