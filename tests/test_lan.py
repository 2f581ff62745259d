"""The party's Wi-Fi out of the box: LAN addresses for invites when PUBLIC_BASE_URL is unset, every
advertised origin allowed, a refused origin explained (HTTP 403 and the log), the start banner."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from rooms_server import lan
from rooms_server.__main__ import banner
from rooms_server.app import create_app
from rooms_server.config import Settings
from rooms_server.protocol import CloseCode
from tests.helpers import Guest, error_code, make_group

LAN = "http://192.168.1.20:8000"


def unset(**overrides: object) -> Settings:
    """Settings as from an environment without PUBLIC_BASE_URL and ALLOWED_ORIGINS."""
    env = {"SECRET_KEY": "k", "PORT": "8000", **{k: str(v) for k, v in overrides.items()}}
    return Settings.from_env(env)


def test_lan_addresses_keep_usable_ipv4_first_seen_first() -> None:
    candidates = ["192.168.1.20", "127.0.1.1", None, "169.254.3.4", "0.0.0.0", "fe80::1", "10.0.0.5", "192.168.1.20"]
    assert lan.lan_addresses(candidates) == ["192.168.1.20", "10.0.0.5"]
    assert lan.lan_addresses(["not an address", "224.0.0.1"]) == []


def test_lan_route_address_sends_nothing_and_is_an_address_or_none() -> None:
    found = lan.route_address()  # a UDP connect: the kernel picks a source, no packet leaves
    assert found is None or lan.lan_addresses([found]) in ([found], [])


def test_lan_advertise_uses_the_lan_address_when_nothing_is_set() -> None:
    settings = lan.advertise(unset(), lambda: ["192.168.1.20", "10.0.0.5"])
    assert settings.public_base_url == LAN
    assert settings.advertised == (LAN, "http://10.0.0.5:8000", "http://localhost:8000", "http://127.0.0.1:8000")
    assert set(settings.allowed_origins) == {
        LAN,
        "http://10.0.0.5:8000",
        "http://localhost:8000",
        "http://127.0.0.1:8000",
        "http://[::1]:8000",
    }
    assert lan.advertise(settings, lambda: ["172.16.0.9"]) is settings  # once only


def test_lan_advertise_keeps_what_is_configured() -> None:
    explicit = lan.advertise(unset(PUBLIC_BASE_URL="https://party.example"), lambda: ["192.168.1.20"])
    assert explicit.public_base_url == "https://party.example"
    assert explicit.allowed_origins == ("https://party.example",) and explicit.advertised == ("https://party.example",)
    origins = lan.advertise(unset(ALLOWED_ORIGINS="http://a.example"), lambda: ["192.168.1.20"])
    assert origins.public_base_url == LAN and origins.allowed_origins == ("http://a.example",)
    local = lan.advertise(unset(HOST="127.0.0.1"), lambda: ["192.168.1.20"])
    assert local.public_base_url == "http://localhost:8000"  # bound to loopback: no phone can come anyway
    nothing = lan.advertise(unset(), lambda: [])
    assert nothing.public_base_url == "http://localhost:8000" and "http://localhost:8000" in nothing.allowed_origins
    assert lan.advertise(Settings(), lambda: ["192.168.1.20"]).public_base_url == "http://localhost:8000"


@pytest.fixture
def lan_client(tmp_path: Path, migrated_sqlite_template: Path) -> Iterator[TestClient]:
    db = tmp_path / "rooms.db"
    db.write_bytes(migrated_sqlite_template.read_bytes())
    settings = replace(unset(), database_url=f"sqlite+aiosqlite:///{db}", migrate_on_start=False)
    with TestClient(create_app(settings, discover=lambda: ["192.168.1.20"]), base_url=LAN) as client:
        yield client


def test_lan_invites_and_the_server_endpoint_use_the_lan_address(lan_client: TestClient) -> None:
    ann = Guest(lan_client, "Ann")
    gid = make_group(lan_client, ann, "Party")["id"]
    invite = lan_client.post(f"/api/groups/{gid}/invite", headers=ann.headers).json()
    assert invite["url"] == f"{LAN}/join/{invite['token']}"
    assert lan_client.get("/api/server").json() == {
        "base_url": LAN,
        "addresses": [LAN, "http://localhost:8000", "http://127.0.0.1:8000"],
    }


def test_lan_every_advertised_origin_is_allowed_and_others_are_refused(
    lan_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    for origin in (LAN, "http://localhost:8000", "http://127.0.0.1:8000"):
        created = lan_client.post("/api/users", json={"name": "Ann"}, headers={"origin": origin})
        assert created.status_code == 201, origin
    for _ in range(2):
        refused = lan_client.post("/api/users", json={"name": "Eve"}, headers={"origin": "http://192.168.1.99:8000"})
        assert refused.status_code == 403 and error_code(refused) == "origin_refused"
    lines = [r.getMessage() for r in caplog.records if "refused an HTTP request" in r.getMessage()]
    assert len(lines) == 1  # once per origin
    assert "ALLOWED_ORIGINS=" in lines[0] and "http://192.168.1.99:8000" in lines[0] and "PUBLIC_BASE_URL" in lines[0]
    assert lan_client.get("/healthz", headers={"origin": "http://elsewhere"}).status_code == 200  # not the API


def test_lan_socket_from_the_lan_origin_is_accepted(lan_client: TestClient) -> None:
    ann = Guest(lan_client, "Ann")
    gid = make_group(lan_client, ann, "Party")["id"]
    with lan_client.websocket_connect(f"/ws/groups/{gid}", headers={"origin": LAN}) as ws:
        ws.send_text(orjson.dumps({"type": "hello", "token": ann.token}).decode())
        assert orjson.loads(ws.receive_text())["type"] == "snapshot"
    with lan_client.websocket_connect(f"/ws/groups/{gid}", headers={"origin": "http://10.9.9.9:8000"}) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == CloseCode.BAD_ORIGIN


def test_lan_banner_shows_the_address_and_its_qr() -> None:
    out = io.StringIO()
    banner(lan.advertise(unset(), lambda: ["192.168.1.20"]), out)
    text = out.getvalue()
    assert f"Open {LAN}/" in text and "Also reachable at: http://localhost:8000" in text
    assert sum(1 for line in text.splitlines() if "█" in line or "▀" in line or "▄" in line) > 10  # the QR
    lonely = io.StringIO()
    banner(lan.advertise(unset(), lambda: []), lonely)
    assert "set PUBLIC_BASE_URL" in lonely.getvalue()
