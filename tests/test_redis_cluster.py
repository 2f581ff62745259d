"""The Redis engine on a Redis Cluster (issue 15): engine URLs, and a room served by two processes.

The engine contract suite runs against the same three-primary cluster (tests/engine, parameter
``redis-cluster``); here two real server processes share a room through it, with PostgreSQL.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from rooms_server.engine.redis import clients
from tests.servers import StartServers, assert_ack, redis_client, shared_room


def test_redis_cluster_url_names_its_nodes_and_keeps_credentials_and_options() -> None:
    target = clients.parse("rediss+cluster://app:s3cret@10.0.0.1:7000,10.0.0.2:7001/?ssl_cert_reqs=none")
    assert target.cluster
    assert target.urls == (
        "rediss://app:s3cret@10.0.0.1:7000/?ssl_cert_reqs=none",
        "rediss://app:s3cret@10.0.0.2:7001/?ssl_cert_reqs=none",
    )
    assert clients.parse("redis://localhost:6379/2") == clients.Target(False, ("redis://localhost:6379/2",))


@pytest.mark.parametrize("url", ["redis+cluster://", "redis+cluster://host-without-port", "http://x:1"])
def test_redis_cluster_url_without_nodes_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        clients.parse(url)


class _Node:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port


class _Topology:
    """What PubSubNodes reads of a RedisCluster: its primaries as they are now."""

    def __init__(self, *ports: int) -> None:
        self.ports = list(ports)

    def get_primaries(self) -> list[_Node]:
        return [_Node("10.0.0.9", port) for port in self.ports]


async def test_redis_cluster_pubsub_reconnects_to_the_next_primary_of_the_topology_as_it_is_now() -> None:
    topology = _Topology(7001, 7002, 7003)
    nodes = clients.PubSubNodes(clients.parse("redis+cluster://u:p@seed:7000"), cast(Redis, topology))
    seen = []
    for _ in range(3):
        pubsub = nodes.open()
        seen.append(pubsub.connection_pool.connection_kwargs["port"])
    assert sorted(seen) == [7001, 7002, 7003]  # every reconnection moves on to another primary
    topology.ports = [7005]  # a failover replaced them: the next connection follows the new map
    moved = nodes.open().connection_pool.connection_kwargs
    assert (moved["host"], moved["port"], moved["username"], moved["password"]) == ("10.0.0.9", 7005, "u", "p")
    await nodes.aclose()


@pytest.mark.redis
@pytest.mark.postgres
async def test_redis_cluster_two_processes_share_one_room(start_servers: StartServers, redis_cluster_url: str) -> None:
    cluster = await start_servers(2, redis_url=redis_cluster_url)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    a, b = await cluster.connect(0, ann, gid), await cluster.connect(1, bob, gid)
    await a.until("members_changed", joined=bob.id)

    await cluster.api(1).add_track(bob, gid, "first")
    await cluster.api(0).add_track(ann, gid, "second")
    first = (await cluster.api(1).playlist(bob, gid))["tracks"][0]["id"]
    assert_ack(await a.command({"type": "play"}))
    assert_ack(await a.command({"type": "skip", "expected_track_id": first}))
    assert_ack(await b.command({"type": "chat", "text": "through the cluster"}))
    await asyncio.gather(*(client.until("chat", text="through the cluster") for client in (a, b)))
    since_b = [f.text for f in a.events if f["seq"] > b.first["seq"]]
    assert since_b == [f.text for f in b.events]  # the same bytes, in the same order, on both processes

    # A phone that drops and resumes on the other process gets exactly what it missed.
    point = b.resume_point()
    await b.close()
    assert_ack(await a.command({"type": "chat", "text": "while Bob was away"}))
    again = await cluster.connect(0, bob, gid, resume=point)
    assert again.first.type == "resumed"
    await again.until("chat", text="while Bob was away")
    assert again.events[0]["seq"] == point["seq"] + 1  # no gap (RoomClient checks the rest of the run)

    # The group's keys share one slot (its hash tag), spread over the cluster with other groups'.
    raw: Any = redis_client(redis_cluster_url)
    try:
        keys = list(raw.scan_iter(f"{cluster.prefix}g:{{{gid}}}*"))
        assert keys and len({raw.keyslot(key) for key in keys}) == 1
    finally:
        raw.close()
