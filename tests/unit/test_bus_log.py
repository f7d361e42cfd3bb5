from __future__ import annotations

import pytest

from corral.bus.log import MemoryEventLog
from corral.protocol.event import Event


def events(n: int) -> list[Event]:
    return [Event.new("resource.change", data={"n": i}) for i in range(n)]


async def test_append_assigns_increasing_seqs() -> None:
    log = MemoryEventLog(100)
    assert await log.last_seq() == 0
    assert await log.oldest_seq() is None
    batch = events(3)
    assert [await log.append(e) for e in batch] == [1, 2, 3]
    assert [e.seq for e in batch] == [1, 2, 3]
    assert await log.append_many(events(2)) == [4, 5]
    assert await log.oldest_seq() == 1
    assert await log.last_seq() == 5


async def test_read_since_pages_in_order() -> None:
    log = MemoryEventLog(100)
    await log.append_many(events(10))
    assert [e.seq for e in await log.read_since(0, 4)] == [1, 2, 3, 4]
    assert [e.seq for e in await log.read_since(4, 4)] == [5, 6, 7, 8]
    assert [e.seq for e in await log.read_since(8, 4)] == [9, 10]
    assert await log.read_since(10, 4) == []
    assert await log.read_since(3, 0) == []


async def test_old_events_are_purged_beyond_the_bound() -> None:
    log = MemoryEventLog(10)
    for n in range(1, 36):  # crosses the compaction point several times
        await log.append(Event.new("x"))
        kept = await log.read_since(0, 100)
        assert [e.seq for e in kept] == list(range(max(1, n - 9), n + 1))
    assert await log.oldest_seq() == 26
    assert len(log) == 10
    assert [e.seq for e in await log.read_since(30, 3)] == [31, 32, 33]


async def test_purge_through_moves_the_horizon() -> None:
    log = MemoryEventLog(100, start_seq=40)
    await log.append_many(events(10))  # 41..50
    assert log.purge_through(44) == 4
    assert await log.oldest_seq() == 45
    assert [e.seq for e in await log.read_since(0, 100)] == list(range(45, 51))
    assert log.purge_through(100) == 6
    assert await log.oldest_seq() is None
    assert await log.last_seq() == 50
    assert await log.read_since(0, 10) == []


def test_bound_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemoryEventLog(0)
