"""Track ids are never reused, on SQLite and PostgreSQL: a stale command naming a removed track
(``remove``, ``move``, ``skip``) must never act on a newer one, also after a restart."""

from __future__ import annotations

from starlette.testclient import TestClient

from rooms_server.app import create_app
from rooms_server.config import Settings
from tests.helpers import Guest, make_group
from tests.ws_client import Phone, add, close_all


def track_ids(client: TestClient, guest: Guest, gid: str) -> list[int]:
    return [t["id"] for t in client.get(f"/api/groups/{gid}/playlist", headers=guest.headers).json()["tracks"]]


def test_track_ids_add_remove_add_gives_a_fresh_id_even_after_a_restart(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        ann = Guest(client, "Ann")
        gid = make_group(client, ann, "Ids")["id"]
        phone = Phone(client, ann, gid)
        add(phone, "first")
        add(phone, "second")
        first, removed = track_ids(client, ann, gid)
        assert phone.command({"type": "remove", "track_id": removed})["type"] == "ack"
        add(phone, "third")
        [_, third] = track_ids(client, ann, gid)
        assert third > removed > first
        # A stale command naming the removed id finds nothing: it is nobody else's id.
        stale = phone.command({"type": "remove", "track_id": removed})
        assert (stale["type"], stale["code"]) == ("error", "track_not_found")
        assert phone.command({"type": "remove", "track_id": third})["type"] == "ack"
        phone.close()
        close_all()
    with TestClient(create_app(settings)) as client:  # the same database, a new process
        phone = Phone(client, ann, gid)
        add(phone, "fourth")
        [_, fourth] = track_ids(client, ann, gid)
        assert fourth > third
        phone.close()
        close_all()
