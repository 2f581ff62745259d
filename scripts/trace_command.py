"""Which rooms_server modules one socket command walks through, in order, and whether it loops back.

    .venv/bin/python -m scripts.trace_command skip       # from the repository root

Runs the app in process (``create_app`` + Starlette's TestClient, SQLite and the memory engine),
opens a room with two tracks playing, then profiles the server's event-loop thread from the
moment the command is sent until its ack, its events and what reacts to them (the track-end
timer) are done. Every call whose code lives in ``rooms_server`` is recorded by module.

A *loop back* is a call from a module into one that was first entered before it (e.g. the hub
calling presence calling live again): the command's path is then not one way. Calls within a
module and returns are not loop backs. ``rooms_server.protocol``'s frame helpers are counted like
any module.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))  # trace the checkout we are run from, not the installed one

from starlette.testclient import TestClient  # noqa: E402

from rooms_server.app import create_app  # noqa: E402
from rooms_server.config import Settings  # noqa: E402


class Tracer:
    def __init__(self) -> None:
        self.order: list[str] = []  # modules in the order first entered
        self.loops: list[tuple[str, str]] = []  # (caller, callee) calls going back up the order
        self.callers: set[str] = set()  # modules that called another rooms_server module

    def __call__(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call" or frame.f_lasti > 0:
            return  # a coroutine or generator resuming is not a new call
        module = str(frame.f_globals.get("__name__", ""))
        if not module.startswith("rooms_server"):
            return
        caller = _caller_module(frame)
        if caller is not None and caller not in self.order:
            self.order.append(caller)  # running already when the trace began (resumed, not called)
        if module not in self.order:
            self.order.append(module)
        if caller is None or caller == module:
            return
        self.callers.add(caller)
        if self.order.index(module) < self.order.index(caller) and (caller, module) not in self.loops:
            self.loops.append((caller, module))


def _caller_module(frame: FrameType) -> str | None:
    """The nearest rooms_server module up the stack (callbacks pass through asyncio and starlette)."""
    back = frame.f_back
    while back is not None:
        name = str(back.f_globals.get("__name__", ""))
        if name.startswith("rooms_server"):
            return name
        back = back.f_back
    return None


def _settings(directory: Path) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{directory / 'rooms.db'}",
        engine_url="memory://",
        secret_key="k",
        public_base_url="http://testserver",
        allowed_origins=("http://testserver",),
        migrate_on_start=True,
        playback_lead_ms=0,
    )


def _until(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = orjson.loads(ws.receive_text())
        if frame["type"] == "error":
            raise RuntimeError(f"the server refused: {frame}")
        if frame["type"] == kind:
            return frame


def trace_skip(directory: Path) -> Tracer:
    tracer = Tracer()
    with TestClient(create_app(_settings(directory))) as client:
        user = client.post("/api/users", json={"name": "Ann"}).json()
        headers = {"Authorization": f"Bearer {user['token']}"}
        group = client.post("/api/groups", json={"name": "Room", "is_public": True}, headers=headers).json()
        with client.websocket_connect(f"/ws/groups/{group['id']}", headers={"origin": "http://testserver"}) as ws:
            ws.send_text(orjson.dumps({"type": "hello", "token": user["token"]}).decode())
            _until(ws, "snapshot")
            for title in ("one", "two"):
                add = {
                    "type": "add",
                    "service": "youtube",
                    "url": "https://youtu.be/dQw4w9WgXcQ",
                    "title": title,
                    "duration": 300,
                }
                ws.send_text(orjson.dumps(add).decode())
                first = _until(ws, "ack") if title == "two" else _until(ws, "track_added")
            ws.send_text(orjson.dumps({"type": "play"}).decode())
            playing = _until(ws, "playback_changed")
            _until(ws, "ack")
            assert first is not None and playing["track_id"] is not None
            time.sleep(0.3)  # let the timers of the play settle before tracing (a script, not a test)
            assert client.portal is not None
            client.portal.call(_set_profile, tracer)
            ws.send_text(orjson.dumps({"type": "skip", "expected_track_id": playing["track_id"]}).decode())
            _until(ws, "ack")
            time.sleep(0.3)  # the reactors of the skip's events (the track-end timer) run meanwhile
            client.portal.call(_set_profile, None)
    return tracer


def _set_profile(tracer: Tracer | None) -> None:
    sys.setprofile(tracer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["skip"])
    parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tracer = trace_skip(Path(tmp))
        shutil.rmtree(tmp, ignore_errors=True)
    grouped = list(dict.fromkeys(_area(m) for m in tracer.order))
    print(f"modules entered ({len(tracer.order)}):")
    for module in tracer.order:
        print(f"  {module}")
    print(f"areas (engine/** as one, {len(grouped)}): {' -> '.join(grouped)}")
    leaves = [m for m in tracer.order if m not in tracer.callers]
    walked = [m for m in tracer.order if m in tracer.callers]
    print(f"leaf helpers (called, call no rooms_server module; {len(leaves)}): {', '.join(leaves)}")
    print(f"modules that pass the command on ({len(walked)}): {' -> '.join(walked)}")
    for title, loops in (
        ("loop backs, any module", tracer.loops),
        ("loop backs into modules that pass it on", [(c, m) for c, m in tracer.loops if m in tracer.callers]),
    ):
        if loops:
            print(f"{title} ({len(loops)}):")
            for caller, callee in loops:
                print(f"  {caller} -> {callee}")
        else:
            print(f"{title}: none (one way)")


def _area(module: str) -> str:
    return "rooms_server.engine" if module.startswith("rooms_server.engine") else module


if __name__ == "__main__":
    main()
