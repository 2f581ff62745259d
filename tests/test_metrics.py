"""/metrics: off without METRICS_TOKEN, bearer-protected with it, and the numbers move with real
traffic — in one process (TestClient) and across two real processes, each scraped on its own."""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from rooms_server.app import create_app
from rooms_server.config import Settings
from tests.helpers import Guest, make_group
from tests.servers import StartServers, add_frame, assert_ack, shared_room
from tests.ws_client import Phone, add, close_all

TOKEN = "scrape-me"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def metered(tmp_path: Path, migrated_sqlite_template: Path) -> Iterator[TestClient]:
    db = tmp_path / "rooms.db"
    shutil.copy(migrated_sqlite_template, db)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db}",
        secret_key="k",
        public_base_url="http://testserver",
        allowed_origins=("http://testserver",),
        migrate_on_start=False,
        playback_lead_ms=0,
        metrics_token=TOKEN,
    )
    with TestClient(create_app(settings)) as client:
        try:
            yield client
        finally:
            close_all()


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


def test_metrics_route_is_absent_without_a_token(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_metrics_refuse_a_missing_or_wrong_token(metered: TestClient) -> None:
    assert metered.get("/metrics").status_code == 401
    wrong = metered.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"


def test_metrics_move_with_socket_traffic(metered: TestClient) -> None:
    client = metered
    before = scrape(client)
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    gid = make_group(client, ann, "Room")["id"]
    assert client.post(f"/api/groups/{gid}/join", headers=bob.headers).status_code == 200
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    a.until("members_changed", joined=bob.id)
    first = add(a, "one")
    add(a, "two")
    track_id = a.until("track_added")["track"]["id"]
    assert b.command({"type": "skip", "expected_track_id": track_id})["code"] == "forbidden"
    assert a.command({"type": "remove", "track_id": 999_999})["code"] == "track_not_found"
    a.ws.send_text("not json")
    assert a.receive()["code"] == "bad_json"
    during = scrape(client)
    resume = {"epoch": b.epoch, "seq": first["seq"]}
    b.close()
    again = Phone(client, bob, gid, resume=resume)
    assert again.first["type"] == "resumed"
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect(f"/ws/groups/{gid}", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_text()
    assert refused.value.code == 4508
    after = scrape(client)

    assert value(during, "rooms_open_sockets") == 2 and value(during, "rooms_live_groups") == 1
    assert value(before, "rooms_open_sockets") == 0
    published = value(during, "rooms_events_published_total") - value(before, "rooms_events_published_total")
    assert published >= 3  # members_changed (Ann's, then Bob's), two track_added
    assert value(during, "rooms_frames_delivered_total", kind="event") >= published  # both phones got them
    assert value(during, "rooms_command_results_total", command="add", result="ack") == 2
    assert value(during, "rooms_command_results_total", command="skip", result="forbidden") == 1
    assert value(during, "rooms_command_results_total", command="remove", result="track_not_found") == 1
    assert value(during, "rooms_command_results_total", command="invalid", result="bad_json") == 1
    assert value(during, "rooms_command_duration_seconds_count", command="add") == 2
    assert value(during, "rooms_lock_wait_seconds_count") >= published
    assert value(during, "rooms_first_frames_total", kind="snapshot") == 2
    assert value(after, "rooms_first_frames_total", kind="resumed") == 1
    assert value(after, "rooms_frames_delivered_total", kind="replay") >= 2  # resumed + the missed add
    assert value(after, "rooms_socket_closes_total", code="4508", reason="bad_origin") == 1
    assert value(after, "process_resident_memory_bytes") > 0


def _scrape_process(base_url: str) -> Samples:
    request = urllib.request.Request(f"{base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return parse(response.read().decode())


async def test_metrics_each_process_counts_its_own_share(start_servers: StartServers) -> None:
    """Two processes on Redis: the commands sent to A are published by A; B's socket receives them
    through Redis and B counts their deliveries; a deployment's totals are the sum over processes."""
    cluster = await start_servers(2, METRICS_TOKEN=TOKEN)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    a = await cluster.connect(0, ann, gid)
    b = await cluster.connect(1, bob, gid)
    await a.until("members_changed", joined=bob.id)
    before = [_scrape_process(server.base_url) for server in cluster.servers]
    seen = len(b.events)
    for n in range(5):
        last = assert_ack(await a.command(add_frame(f"song-{n}")))
    await b.until("track_added", seq=last["seq"])
    events = len(b.events) - seen  # five track_added and the first track's index_changed
    after = [_scrape_process(server.base_url) for server in cluster.servers]

    def moved(index: int, name: str, **labels: str) -> float:
        return value(after[index], name, **labels) - value(before[index], name, **labels)

    assert events == 6
    assert moved(0, "rooms_events_published_total") == events and moved(1, "rooms_events_published_total") == 0
    assert moved(0, "rooms_command_results_total", command="add", result="ack") == 5
    assert moved(1, "rooms_command_results_total", command="add", result="ack") == 0
    assert moved(0, "rooms_frames_delivered_total", kind="event") == events  # Ann's socket on A
    assert moved(1, "rooms_frames_delivered_total", kind="event") == events  # Bob's socket on B
    assert [value(s, "rooms_open_sockets") for s in after] == [1, 1]
