"""The one connection object the Redis parts share: clients, key names, scripts and the lifecycle."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import RedisError

from ..base import Lifecycle
from . import clients
from ._scripts import Scripts

_PING_TIMEOUT_S = 2.0
# Commands fail within about a second when Redis is down (a few quick retries ride out a dropped
# connection), instead of redis-py's default of ten retries with backoff behind 5 s socket timeouts:
# a client waiting on a dead Redis should hear "unavailable" promptly.
_COMMAND_TIMEOUT_S = 2.0
_COMMAND_RETRIES = 3


@dataclass(frozen=True, slots=True)
class Keys:
    """Every Redis key and channel name of one deployment (``prefix``); a group's carry ``{<id>}``."""

    prefix: str

    def group(self, group_id: str, suffix: str = "") -> str:
        return f"{self.prefix}g:{{{group_id}}}{suffix}"

    def presence(self, group_id: str) -> list[str]:
        return [self.group(group_id, ":pconn"), self.group(group_id, ":pexp"), self.group(group_id, ":pusers")]

    def cache(self, key: str) -> str:
        return f"{self.prefix}cache:{key}"

    def hits(self, key: str) -> str:
        return f"{self.prefix}hits:{key}"

    def answer(self, group_id: str, key: str) -> str:
        return self.group(group_id, f":cmd:{key}")

    @property
    def broadcast(self) -> str:
        return f"{self.prefix}broadcast"

    def maximum(self, key: str, window: int) -> str:
        return f"{self.prefix}max:{key}:{window}"

    def control(self, node: str) -> str:
        return f"{self.prefix}node:{node}"


class Background(Protocol):
    """A part with work of its own on the connection (the broker's listener)."""

    async def start(self, client: Redis, open_pubsub: Callable[[], PubSub]) -> None: ...

    async def stop(self) -> None: ...

    @property
    def healthy(self) -> bool: ...


class Connection(Lifecycle):
    """The clients of one process (commands, pub/sub; one server or a cluster), its node id, and the scripts.

    Parts with background work ``attach`` themselves: they start after the clients and stop before
    them, and ``ping`` is healthy only when they are.
    """

    def __init__(self, url: str, *, prefix: str = "rooms:") -> None:
        self.keys = Keys(prefix)
        self.node = secrets.token_hex(4)
        self._target = clients.parse(url)
        self._client: Redis | None = None
        self._pubsub_nodes: clients.PubSubNodes | None = None
        self._scripts: Scripts | None = None
        self._background: list[Background] = []

    def attach(self, part: Background) -> None:
        self._background.append(part)

    async def connect(self) -> None:
        if self._client is not None:
            return
        # Commands keep a few silent retries (the scripts are retry-safe). The pub/sub client must
        # not time out an idle read (socket_timeout=None) and must surface errors to the listener.
        self._client = clients.command_client(
            self._target,
            socket_timeout=_COMMAND_TIMEOUT_S,
            socket_connect_timeout=_COMMAND_TIMEOUT_S,
            retry=Retry(ExponentialWithJitterBackoff(base=0.02, cap=0.25), _COMMAND_RETRIES),
        )
        self._pubsub_nodes = clients.PubSubNodes(
            self._target,
            self._client,
            socket_timeout=None,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=10,
            client_name=self.pubsub_client_name,
        )
        self._scripts = Scripts.register(self._client)
        try:
            await self._client.ping()
            for part in self._background:
                await part.start(self._client, self._pubsub_nodes.opener())
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        # Background parts go first: they use both clients until they have stopped.
        for part in reversed(self._background):
            await part.stop()
        if self._pubsub_nodes is not None:
            await self._pubsub_nodes.aclose()
        if self._client is not None:
            await self._client.aclose()
        self._client = self._pubsub_nodes = self._scripts = None

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(_PING_TIMEOUT_S):  # bounded: redis-py would otherwise retry for seconds
                await self.redis.ping()
        except (RedisError, TimeoutError):
            return False
        return all(part.healthy for part in self._background)

    @property
    def pubsub_client_name(self) -> str:
        """The CLIENT SETNAME of this process's pub/sub connection (for operators and fault tests)."""
        return f"{self.keys.prefix}pubsub:{self.node}"

    @property
    def redis(self) -> Redis:
        """The command client; raises RuntimeError before ``connect()``."""
        if self._client is None:
            raise RuntimeError("the Redis engine is not connected; call connect() first")
        return self._client

    @property
    def scripts(self) -> Scripts:
        """The Lua scripts registered on the command client; raises RuntimeError before ``connect()``."""
        if self._scripts is None:
            raise RuntimeError("the Redis engine is not connected; call connect() first")
        return self._scripts


def ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
