"""``redis://`` / ``rediss://``: the engine shared by every process of a deployment.

Keys of a group carry the hash tag ``{<group_id>}``: state hash ``<prefix>g:{<id>}:state``
(fields epoch, seq, state, token), log Stream ``...:log`` with ids ``<seq>-0`` capped exactly at
``history_size``, pub/sub channel ``<prefix>g:{<id>}``, lock ``...:lock`` and presence keys
``...:pconn`` / ``...:pexp`` / ``...:pusers``, commands' answers ``...:cmd:<key>``, and one
channel ``<prefix>broadcast`` for process-wide messages. Writes are Lua scripts (``_redis_scripts``); delivery
is the one pub/sub connection of ``_redis_listener``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError, RedisError, TimeoutError as RedisTimeoutError

from ._redis_listener import Listener
from ._redis_scripts import Scripts
from ._util import KeyedLocks, new_epoch
from ._views import Whole
from .base import (
    EngineBusy,
    ErrorCallback,
    EventCallback,
    Remembered,
    ResetCallback,
    SignalCallback,
    Stored,
)

_LOCK_POLL_S = (0.002, 0.01)  # jittered, so waiters of several processes do not retry in lockstep
_PING_TIMEOUT_S = 2.0
# Commands fail within about a second when Redis is down (a few quick retries ride out a dropped
# connection), instead of redis-py's default of ten retries with backoff behind 5 s socket timeouts:
# a client waiting on a dead Redis should hear "unavailable" promptly.
_COMMAND_TIMEOUT_S = 2.0
_COMMAND_RETRIES = 3

logger = logging.getLogger("rooms_server.engine.redis")


@dataclass(frozen=True, slots=True)
class Keys:
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


class RedisEngine(Whole):
    """Engine state in Redis, events fanned out over pub/sub and made gapless from the log.

    Presence expiry uses the Redis server clock (``TIME`` inside the scripts), so processes with
    skewed clocks agree. The group lock is ``SET NX PX`` with a random token and a short lease
    (``lock_lease_s``, 1.5 s) that a keepalive task renews every third of a lease while the block
    runs, and deleted only by its own token on exit: a holder that dies blocks the group for at most
    one lease. A per-process asyncio lock in front keeps the waiters of one process from polling
    Redis against each other.
    """

    def __init__(
        self,
        url: str,
        *,
        on_event: EventCallback,
        on_reset: ResetCallback,
        on_error: ErrorCallback | None = None,
        on_signal: SignalCallback | None = None,
        prefix: str = "rooms:",
        history_size: int = 1000,
        lock_timeout_s: float = 5.0,
        lock_lease_s: float = 1.5,
        poll_interval_s: float = 1.0,
        pubsub_timeout_s: float = 5.0,
    ) -> None:
        if history_size < 1:
            raise ValueError("history_size must be at least 1")
        self._url = url
        self._on_event = on_event
        self._on_reset = on_reset
        self._on_error = on_error
        self._on_signal = on_signal
        self._keys = Keys(prefix)
        self._history_size = history_size
        self._lock_timeout_s = lock_timeout_s
        self._lock_lease_ms = max(30, int(1000 * lock_lease_s))
        self._poll_interval_s = poll_interval_s
        self._pubsub_timeout_s = pubsub_timeout_s
        self._node = secrets.token_hex(4)
        self._local_locks = KeyedLocks()
        self._client: Redis | None = None
        self._pubsub_client: Redis | None = None
        self._scripts: Scripts | None = None
        self._listener: Listener | None = None

    async def connect(self) -> None:
        if self._client is not None:
            return
        # Commands keep a few silent retries (the scripts are retry-safe). The pub/sub client must
        # not time out an idle read (socket_timeout=None) and must surface errors to the listener.
        self._client = Redis.from_url(
            self._url,
            socket_timeout=_COMMAND_TIMEOUT_S,
            socket_connect_timeout=_COMMAND_TIMEOUT_S,
            retry=Retry(ExponentialWithJitterBackoff(base=0.02, cap=0.25), _COMMAND_RETRIES),
        )
        self._pubsub_client = Redis.from_url(
            self._url,
            socket_timeout=None,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=10,
            client_name=self.pubsub_client_name,
        )
        self._scripts = Scripts.register(self._client)
        self._listener = self._make_listener(self._client, self._pubsub_client)
        try:
            await self._client.ping()
            await self._listener.start(self._pubsub_timeout_s)
        except BaseException:
            await self.close()
            raise

    def _make_listener(self, client: Redis, pubsub_client: Redis) -> Listener:
        return Listener(
            pubsub_client=pubsub_client,
            client=client,
            control_channel=f"{self._keys.prefix}node:{self._node}",
            broadcast_channel=self._keys.broadcast,
            on_signal=self._on_signal,
            channel_of=self._keys.group,
            positions=self._positions,
            history=self.history,
            on_event=self._on_event,
            on_reset=self._on_reset,
            on_error=self._on_error,
            poll_interval_s=self._poll_interval_s,
        )

    async def close(self) -> None:
        # The listener goes first: it uses both clients until it has stopped.
        if self._listener is not None:
            await self._listener.stop()
        for redis_client in (self._pubsub_client, self._client):
            if redis_client is not None:
                await redis_client.aclose()
        self._listener = self._client = self._pubsub_client = self._scripts = None

    @property
    def pubsub_client_name(self) -> str:
        """The CLIENT SETNAME of this process's pub/sub connection (for operators and fault tests)."""
        return f"{self._keys.prefix}pubsub:{self._node}"

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(_PING_TIMEOUT_S):  # bounded: redis-py would otherwise retry for seconds
                await self._redis().ping()
        except (RedisError, TimeoutError):
            return False
        return self._listener is not None and self._listener.healthy

    async def get(self, group_id: str) -> Stored | None:
        epoch, seq, state = await self._redis().hmget(self._keys.group(group_id, ":state"), ["epoch", "seq", "state"])
        if epoch is None or seq is None or state is None:
            return None
        return Stored(_text(epoch), int(seq), _bytes(state))

    async def create(self, group_id: str, state: bytes) -> Stored:
        keys = [self._keys.group(group_id, ":state"), self._keys.group(group_id, ":log")]
        epoch, seq, stored = await self._run().create(keys=keys, args=[new_epoch(), state])
        return Stored(_text(epoch), int(seq), _bytes(stored))

    async def reset(self, group_id: str, state: bytes) -> Stored:
        # Callers hold the group lock, so nobody writes between the delete and the create.
        await self.delete(group_id)
        return await self.create(group_id, state)

    async def delete(self, group_id: str) -> None:
        await self._redis().delete(self._keys.group(group_id, ":state"), self._keys.group(group_id, ":log"))

    async def commit(
        self,
        group_id: str,
        epoch: str,
        seq: int,
        state: bytes,
        events: list[bytes],
        *,
        remember: Remembered | None = None,
    ) -> bool:
        keys = [self._keys.group(group_id, ":state"), self._keys.group(group_id, ":log"), self._keys.group(group_id)]
        answer: list[bytes | str | int] = [0, b""]
        if remember is not None:
            keys.append(self._keys.answer(group_id, remember.key))
            answer = [_ms(remember.ttl_s), remember.answer]
        args: list[bytes | str | int] = [epoch, seq, state, self._history_size, secrets.token_hex(8), *answer, *events]
        return bool(await self._run().commit(keys=keys, args=args))

    async def recall(self, group_id: str, key: str) -> bytes | None:
        value = await self._redis().get(self._keys.answer(group_id, key))
        return None if value is None else _bytes(value)

    async def remember(self, group_id: str, item: Remembered) -> None:
        await self._redis().set(self._keys.answer(group_id, item.key), item.answer, px=_ms(item.ttl_s))

    async def broadcast(self, message: bytes) -> None:
        await self._redis().publish(self._keys.broadcast, message)

    async def history(self, group_id: str, epoch: str, after_seq: int) -> list[bytes] | None:
        keys = [self._keys.group(group_id, ":state"), self._keys.group(group_id, ":log")]
        events = await self._run().history(keys=keys, args=[epoch, after_seq])
        return None if events is None else [_bytes(data) for data in events]

    async def _positions(self, group_ids: list[str]) -> list[tuple[str, int] | None]:
        """The stored (epoch, seq) of each group, in one round trip."""
        async with self._redis().pipeline(transaction=False) as pipe:
            for group_id in group_ids:
                pipe.hmget(self._keys.group(group_id, ":state"), ["epoch", "seq"])
            rows = await pipe.execute()
        return [None if epoch is None or seq is None else (_text(epoch), int(seq)) for epoch, seq in rows]

    async def subscribe(self, group_id: str) -> None:
        listener = self._listen()
        if not listener.connected:  # no waiting for a subscription that cannot come now
            raise RedisConnectionError("the pub/sub connection is down")
        try:
            await listener.subscribe(group_id, self._pubsub_timeout_s)
        except TimeoutError:  # the pub/sub connection is down: an outage like any other Redis error
            raise RedisTimeoutError(f"group {group_id} not subscribed within {self._pubsub_timeout_s}s") from None

    async def unsubscribe(self, group_id: str) -> None:
        await self._listen().unsubscribe(group_id)

    @asynccontextmanager
    async def lock(self, group_id: str) -> AsyncIterator[None]:
        deadline = asyncio.get_running_loop().time() + self._lock_timeout_s
        async with self._local_locks.hold(group_id, self._lock_timeout_s):
            key, token = self._keys.group(group_id, ":lock"), secrets.token_hex(8)
            await self._acquire(group_id, key, token, deadline)
            keepalive = asyncio.create_task(self._keep_alive(group_id, key, token), name=f"lease-{group_id}")
            try:
                yield
            finally:
                keepalive.cancel()
                await self._release(key, token)

    async def _keep_alive(self, group_id: str, key: str, token: str) -> None:
        """Renew the lease every third of it while the lock is held; stop once it is someone else's."""
        interval = self._lock_lease_ms / 3000
        while True:
            await asyncio.sleep(interval)
            try:
                renewed = await self._run().lock_renew(keys=[key], args=[token, self._lock_lease_ms])
            except RedisError as exc:
                logger.warning("group %s: lock lease not renewed (%s)", group_id, type(exc).__name__)
                continue
            if not renewed:
                # Stalled past the lease: another process may hold the lock now. Nothing of ours can
                # apply any more (every write is a compare-and-set), so there is nothing to undo.
                logger.warning("group %s: lock lease lost while held", group_id)
                return

    async def _acquire(self, group_id: str, key: str, token: str, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                if await self._run().lock_acquire(keys=[key], args=[token, self._lock_lease_ms]):
                    return
            except asyncio.CancelledError:
                # The SET may have landed before the cancellation: release rather than wait out the lease.
                await self._release(key, token)
                raise
            if loop.time() >= deadline:
                raise EngineBusy(group_id)
            await asyncio.sleep(random.uniform(*_LOCK_POLL_S))

    async def _release(self, key: str, token: str) -> None:
        # shield: a cancelled holder still frees the lock instead of blocking the group for a lease.
        # A failed release is only logged: the lease frees the lock, and the caller's own error matters more.
        try:
            await asyncio.shield(self._run().lock_release(keys=[key], args=[token]))
        except RedisError as exc:
            logger.warning("releasing %s failed (%s); it frees itself after the lease", key, exc)

    async def presence_add(self, group_id: str, conn_id: str, user_id: str, ttl_s: float) -> int:
        args: list[bytes | str | int] = [conn_id, user_id, _ms(ttl_s)]
        return int(await self._run().presence_add(keys=self._keys.presence(group_id), args=args))

    async def presence_remove(self, group_id: str, conn_id: str) -> tuple[str | None, int]:
        user_id, count = await self._run().presence_remove(keys=self._keys.presence(group_id), args=[conn_id])
        return (None if user_id is None else _text(user_id)), int(count)

    async def presence_touch(self, group_id: str, conn_ids: Iterable[str], ttl_s: float) -> None:
        conns = list(conn_ids)
        if conns:
            await self._run().presence_touch(keys=self._keys.presence(group_id), args=[_ms(ttl_s), *conns])

    async def presence_users(self, group_id: str) -> dict[str, int]:
        counts = await self._redis().hgetall(self._keys.group(group_id, ":pusers"))
        return {_text(user_id): int(count) for user_id, count in counts.items()}

    async def presence_expired(self, group_id: str) -> list[str]:
        left = await self._run().presence_expired(keys=self._keys.presence(group_id), args=[])
        return [_text(user_id) for user_id in left]

    async def cache_get(self, key: str) -> bytes | None:
        value = await self._redis().get(self._keys.cache(key))
        return None if value is None else _bytes(value)

    async def cache_set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._redis().set(self._keys.cache(key), value, px=_ms(ttl_s))

    async def hit(self, key: str, window_s: float) -> int:
        # One MULTI: the counter never exists without its expiry (PEXPIRE NX keeps the window's start).
        async with self._redis().pipeline(transaction=True) as pipe:
            pipe.incr(self._keys.hits(key))
            pipe.pexpire(self._keys.hits(key), _ms(window_s), nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def max_report(self, key: str, value: int, window_s: float) -> None:
        # One sorted set per window with a single member: ZADD GT keeps the largest score atomically.
        name = self._keys.maximum(key, int(time.time() // window_s))
        async with self._redis().pipeline(transaction=True) as pipe:
            pipe.zadd(name, {"max": value}, gt=True)
            pipe.pexpire(name, _ms(2 * window_s))
            await pipe.execute()

    async def max_recent(self, key: str, window_s: float) -> int | None:
        window = int(time.time() // window_s)
        async with self._redis().pipeline(transaction=False) as pipe:
            pipe.zscore(self._keys.maximum(key, window), "max")
            pipe.zscore(self._keys.maximum(key, window - 1), "max")
            scores = [score for score in await pipe.execute() if score is not None]
        return int(max(scores)) if scores else None

    def _redis(self) -> Redis:
        if self._client is None:
            raise RuntimeError("RedisEngine is not connected; call connect() first")
        return self._client

    def _run(self) -> Scripts:
        if self._scripts is None:
            raise RuntimeError("RedisEngine is not connected; call connect() first")
        return self._scripts

    def _listen(self) -> Listener:
        if self._listener is None:
            raise RuntimeError("RedisEngine is not connected; call connect() first")
        return self._listener


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
