"""The Redis clients of one process, from the engine URL: one server, or a Redis Cluster.

``redis://`` and ``rediss://`` name one server (redis-py's URL, options in the query string).
``redis+cluster://[user:password@]host:port[,host:port…][/?options]`` and ``rediss+cluster://``
name a Redis Cluster by some of its nodes (one is enough; more survive one being down at start):
commands go through redis-py's ``RedisCluster``, which follows the slot map. Every key of a group
carries the hash tag ``{<group_id>}``, so each script and transaction touches one slot; the keys
outside groups (cache, counters, the broadcast channel) are single-key commands.

Delivery stays classic pub/sub: in a cluster a ``PUBLISH`` reaches subscribers on every node, so
the listener subscribes on one node of its choosing. Each (re)connection asks the cluster client
for its current primaries and takes the next one, so a listener whose node failed moves to another
node of the topology as it is then, not the one it started with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, RedisCluster

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
SCHEMES = ("redis", "rediss", *CLUSTER_SCHEMES)


@dataclass(frozen=True, slots=True)
class Target:
    """Where the engine's Redis is: ``urls`` are plain ``redis://`` URLs, one per node named."""

    cluster: bool
    urls: tuple[str, ...]


def parse(url: str) -> Target:
    """The target of an engine URL; ValueError for one that names no host or an unknown scheme."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"not a Redis URL: {url!r}")
    if parts.scheme not in CLUSTER_SCHEMES:
        return Target(cluster=False, urls=(url,))
    userinfo, _, hosts = parts.netloc.rpartition("@")
    nodes = [host.strip() for host in hosts.split(",") if host.strip()]
    if not nodes or any(":" not in node for node in nodes):
        raise ValueError(f"a cluster URL names its nodes as host:port[,host:port…]: {url!r}")
    scheme = CLUSTER_SCHEMES[parts.scheme]
    prefix = f"{userinfo}@" if userinfo else ""
    urls = tuple(urlunsplit((scheme, prefix + node, parts.path, parts.query, "")) for node in nodes)
    return Target(cluster=True, urls=urls)


def command_client(target: Target, **options: Any) -> Redis:
    """The client for commands and scripts.

    ``RedisCluster`` speaks the commands the engine uses (each keyed by one hash tag) with the same
    signatures, and routes them by slot; the parts are typed against ``Redis``, which it mirrors.
    """
    if not target.cluster:
        return Redis.from_url(target.urls[0], **options)
    options.pop("retry", None)  # RedisCluster retries MOVED/ASK and node failures with its own policy
    first, *others = target.urls
    startup = [_node(url) for url in others]
    return cast(Redis, RedisCluster.from_url(first, startup_nodes=startup or None, **options))


class PubSubNodes:
    """Opens the listener's pub/sub connection: on the one server, or on the cluster's next primary."""

    def __init__(self, target: Target, commands: Redis, **options: Any) -> None:
        self._target = target
        self._commands = commands
        self._options = options
        self._clients: dict[str, Redis] = {}
        self._turn = 0

    def opener(self) -> Callable[[], PubSub]:
        return self.open

    def open(self) -> PubSub:
        return self._client_for(self._next_url()).pubsub()

    def _next_url(self) -> str:
        if not self._target.cluster:
            return self._target.urls[0]
        cluster = cast(RedisCluster, self._commands)
        primaries = sorted((node.host, node.port) for node in cluster.get_primaries())
        self._turn += 1
        if not primaries:  # not initialised yet: the nodes the URL named
            return self._target.urls[self._turn % len(self._target.urls)]
        host, port = primaries[self._turn % len(primaries)]
        template = urlsplit(self._target.urls[0])
        userinfo = template.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
        return urlunsplit((template.scheme, netloc, template.path, template.query, ""))

    def _client_for(self, url: str) -> Redis:
        if url not in self._clients:
            self._clients[url] = Redis.from_url(url, **self._options)
        return self._clients[url]

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


def _node(url: str) -> ClusterNode:
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"a cluster node needs host:port: {url!r}")
    return ClusterNode(parts.hostname, parts.port)
