"""The engine's host cache: attempts that miss together share one read, a change of a
host or agent on this server drops what was kept, and nothing is kept past the TTL."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from corral.engine import hosts
from corral.store import tables


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []

    async def read(_store: Any, stmt: Any, params: dict[str, Any]) -> list[Any]:
        seen.append(params)
        await asyncio.sleep(0.01)  # a read takes a while: others miss meanwhile
        if "b_id" in params:
            return [SimpleNamespace(id=params["b_id"], agent_id=7, version=len(seen))]
        return [SimpleNamespace(id=1), SimpleNamespace(id=2)]

    monkeypatch.setattr(hosts.hotsql, "read", read)
    return seen


async def test_misses_at_once_share_one_read(reads: list[Any]) -> None:
    cache = hosts.HostCache(store=None)
    rows = await asyncio.gather(*(cache.host(5) for _ in range(50)))
    assert len(reads) == 1 and {r.version for r in rows} == {1}
    assert await asyncio.gather(*(cache.active_ids(3) for _ in range(20))) == [[1, 2]] * 20
    assert len(reads) == 2
    assert (await cache.host(5)).version == 1  # kept: no read


async def test_a_host_or_agent_change_drops_what_was_kept(reads: list[Any]) -> None:
    cache = hosts.HostCache(store=None)
    await cache.host(5)
    await cache.on_change(SimpleNamespace(table=tables.instance), None)
    assert (await cache.host(5)).version == 1  # an instance change keeps it
    await cache.on_change(SimpleNamespace(table=tables.host), None)
    assert (await cache.host(5)).version == 2
    # a change while a read is under way: that read's row (maybe older) is not kept
    pending = asyncio.ensure_future(cache.host(5))
    await asyncio.sleep(0)
    await cache.on_change(SimpleNamespace(table=tables.agent), None)
    stale = await pending
    assert (await cache.host(5)).version == stale.version + 1


async def test_nothing_is_kept_past_the_ttl(reads: list[Any]) -> None:
    cache = hosts.HostCache(store=None, ttl=0.05)
    await cache.host(5)
    await asyncio.sleep(0.1)
    assert (await cache.host(5)).version == 2
