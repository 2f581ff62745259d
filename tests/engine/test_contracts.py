"""The contracts themselves, create_engine, and the Lifecycle part on every backend."""

from __future__ import annotations

import pytest

from rooms_server.engine import (
    Broker,
    Cache,
    Counters,
    Engine,
    Lifecycle,
    Locks,
    PresenceStore,
    StateLog,
    create_engine,
)
from rooms_server.engine.memory import MemoryStateLog
from rooms_server.engine.redis import RedisStateLog
from tests.engine.helpers import Backend


@pytest.mark.parametrize(
    ("url", "kind"),
    [("memory://", MemoryStateLog), ("redis://h:6379/0", RedisStateLog), ("rediss://h/1", RedisStateLog)],
)
def test_create_engine_picks_backend_by_scheme(url: str, kind: type[StateLog]) -> None:
    engine = create_engine(url, on_event=lambda *a: None, on_reset=lambda g: None)
    assert type(engine.state) is kind


@pytest.mark.parametrize("url", ["postgres://h/db", "memory", ""])
def test_create_engine_rejects_unknown_scheme(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported engine URL"):
        create_engine(url, on_event=lambda *a: None, on_reset=lambda g: None)


async def test_ping_is_true_when_connected_and_close_is_idempotent(backend: Backend) -> None:
    engine = (await backend.make()).engine
    assert await engine.ping()
    await engine.close()
    await engine.close()


CONTRACTS = [Lifecycle, StateLog, Broker, Locks, PresenceStore, Counters, Cache]


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.__name__)
def test_contract_has_at_most_eight_abstract_methods(contract: type) -> None:
    abstract: frozenset[str] = getattr(contract, "__abstractmethods__", frozenset())
    assert 1 <= len(abstract) <= 8, sorted(abstract)


def test_engine_bundle_holds_one_part_per_contract() -> None:
    fields = Engine.__dataclass_fields__
    assert [fields[name].type for name in fields] == [c.__name__ for c in CONTRACTS]


async def test_engine_parts_implement_their_contracts(backend: Backend) -> None:
    engine = (await backend.make()).engine
    parts = [
        engine.lifecycle,
        engine.state,
        engine.broker,
        engine.locks,
        engine.presence,
        engine.counters,
        engine.cache,
    ]
    for part, contract in zip(parts, CONTRACTS, strict=True):
        assert isinstance(part, contract), (part, contract)
