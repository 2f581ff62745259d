from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from rooms_server.clock import ServerClock


class Guest:
    """A guest identity made through the API, with its bearer header."""

    def __init__(self, client: TestClient, name: str) -> None:
        response = client.post("/api/users", json={"name": name})
        assert response.status_code == 201, response.text
        body = response.json()
        self.id: str = body["user"]["id"]
        self.name = name
        self.token: str = body["token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}


def make_group(client: TestClient, owner: Guest, name: str, *, is_public: bool = True) -> dict[str, Any]:
    response = client.post("/api/groups", json={"name": name, "is_public": is_public}, headers=owner.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def error_code(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    code: str = body["error"]["code"]
    return code


class FakeClock:
    """A monotonic clock that moves only when told: rate limits and strike windows become exact."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class HandClock(ServerClock):
    """The server clock with both of its sources (wall and monotonic) moved by the test only."""

    def __init__(self) -> None:
        self.wall, self.mono = 1_700_000_000.0, 50.0
        super().__init__(wall=lambda: self.wall, monotonic=lambda: self.mono)

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def clock(client: TestClient) -> FakeClock:
    """The fake rate-limit clock of the app of ``client`` (``create_app(..., rate_clock=FakeClock())``)."""
    fake = client.app_state["rate_clock"]
    assert isinstance(fake, FakeClock), "this app runs on the real clock"
    return fake
