"""``rooms-server``: serve (default) or migrate.

``rooms-server`` applies the migrations when the database is SQLite (the file lives next to the
process, so no other machine can migrate it) and serves with uvicorn on $PORT.
``rooms-server migrate`` upgrades a shared database (PostgreSQL) and does nothing for SQLite: it is
the PaaS release step, which runs on another machine's disk.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
from typing import TextIO

import uvicorn

from rooms_server import invites, lan, logs
from rooms_server.app import create_app
from rooms_server.config import ConfigError, Settings
from rooms_server.db import migrate
from rooms_server.serving import bounded_http_protocol, tune_gc
from rooms_server.socket_protocol import room_socket_protocol

log = logging.getLogger("rooms_server")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rooms-server", description="Listening rooms server.")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        logs.configure()
        log.error("configuration error: %s", exc)
        return 2
    logs.configure(settings.log_format, settings.log_level, access_log=settings.access_log)
    if args.command == "migrate":
        return _migrate_shared(settings)
    return _serve(settings)


def _migrate_shared(settings: Settings) -> int:
    if settings.is_sqlite:
        log.info("SQLite database: migrations run when the web process starts, not here")
        return 0
    asyncio.run(migrate.upgrade(settings.database_url))
    log.info("database migrated to head")
    return 0


def _serve(settings: Settings) -> int:
    settings = lan.advertise(settings)
    shown_host = "localhost" if settings.host in lan.ALL_INTERFACES else settings.host
    log.info(
        "rooms_server listening on http://%s:%d (public URL %s)", shown_host, settings.port, settings.public_base_url
    )
    if sys.stdout.isatty() and settings.log_format == "text":  # a person is watching, not a log collector
        banner(settings, sys.stdout)
    _raise_open_files_limit(settings.http.max_connections)
    http = bounded_http_protocol(settings.http)
    app = create_app(settings)
    tune_gc()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        http=http or "auto",
        ws=room_socket_protocol(),
        log_config=None,  # logs.configure() set up every logger, uvicorn's included
        access_log=settings.access_log,
        # Frames somewhat over MAX_FRAME_BYTES reach the app and get a `frame_too_large` error while
        # the socket lives; uvicorn cuts far larger ones (1009) before buffering them whole.
        ws_max_size=settings.limits.max_frame_bytes * 4,
        ws_per_message_deflate=False,
        proxy_headers=True,
        log_level=settings.log_level.lower(),
    )
    return 0


def banner(settings: Settings, out: TextIO) -> None:
    """What the person who started the server needs: the address to open, and its QR for a phone."""
    url = f"{settings.public_base_url}/"
    others = [a for a in settings.advertised if a != settings.public_base_url]
    out.write(f"\nrooms_server is running. Open {url} (phones on the same Wi-Fi: scan this)\n\n")
    invites.qr_terminal(url, out)
    if others:
        out.write("Also reachable at: " + ", ".join(others) + "\n")
    if "localhost" in url or "127.0.0.1" in url:
        out.write("Phones cannot open localhost: set PUBLIC_BASE_URL to this machine's address on the Wi-Fi.\n")
    out.flush()


def _raise_open_files_limit(connections: int) -> None:
    """Let the process hold MAX_CONNECTIONS sockets: raise the soft limit of open files toward the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256  # the database, Redis, log files and listening sockets
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new_soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
        if new_soft < wanted:
            log.warning("open files limited to %d: fewer than MAX_CONNECTIONS=%d sockets fit", new_soft, connections)


if __name__ == "__main__":
    sys.exit(main())
