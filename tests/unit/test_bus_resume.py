from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson
import pytest

from corral.bus import Bus, EventLog, MemoryEventLog, QueueSink
from corral.bus.sink import CLOSE_RESYNC_REQUIRED, CLOSE_SLOW_CONSUMER
from corral.errors import BusError, ProtocolError
from corral.protocol.event import Event, decode

CHANGE = "resource.change;account=5"


class YieldingLog(EventLog):
    """A MemoryEventLog that yields to other tasks inside every call, like a database."""

    def __init__(self, inner: MemoryEventLog) -> None:
        self.inner = inner

    async def append(self, event: Event) -> int:
        await asyncio.sleep(0)
        seq = await self.inner.append(event)
        await asyncio.sleep(0)
        return seq

    async def append_many(self, events: Sequence[Event]) -> list[int]:
        await asyncio.sleep(0)
        return await self.inner.append_many(events)

    async def read_since(self, seq: int, limit: int) -> list[Event]:
        await asyncio.sleep(0)
        batch = await self.inner.read_since(seq, limit)
        await asyncio.sleep(0)
        return batch

    async def oldest_seq(self) -> int | None:
        await asyncio.sleep(0)
        return await self.inner.oldest_seq()

    async def last_seq(self) -> int:
        return await self.inner.last_seq()


def seqs(sink: QueueSink) -> list[int | None]:
    return [decode(frame).seq for frame in sink.get_nowait()]


async def until_replay_waits(sink: QueueSink) -> None:
    """Until a resume has filled ``sink`` as far as it will without a reader."""
    while sink.room() > max(1, sink.capacity // 4):
        await asyncio.sleep(0)


async def fill(bus: Bus, count: int, name: str = CHANGE) -> None:
    for n in range(count):
        await bus.publish_persistent(Event.new(name, data={"n": n}))


async def test_resume_replays_after_since_then_goes_live() -> None:
    bus = Bus(log=MemoryEventLog(100))
    await fill(bus, 10)
    sink = QueueSink(100)
    await bus.subscribe([CHANGE], sink, since=4)
    await fill(bus, 2)
    frames = [decode(f) for f in sink.get_nowait()]
    assert [e.seq for e in frames] == list(range(5, 13))
    assert {e.name for e in frames} == {"resource.change"}
    assert bus.stats.resumes == 1 and bus.stats.replayed == 6


async def test_resume_replays_only_matching_names() -> None:
    bus = Bus(log=MemoryEventLog(100))
    for n in range(9):
        name = ("resource.change;account=5", "resource.change;account=6", "ping")[n % 3]
        await bus.publish_persistent(Event.new(name))
    mine, everything = QueueSink(100), QueueSink(100)
    await bus.subscribe([CHANGE], mine, since=0)
    await bus.subscribe(["*"], everything, since=3)
    assert seqs(mine) == [1, 4, 7]
    assert seqs(everything) == [4, 5, 6, 7, 8, 9]


async def test_since_at_the_purge_horizon_is_still_complete() -> None:
    bus = Bus(log=MemoryEventLog(10))
    await fill(bus, 30)  # keeps 21..30
    sink = QueueSink(100)
    await bus.subscribe([CHANGE], sink, since=20)
    assert seqs(sink) == list(range(21, 31))
    assert sink.close_code is None


async def test_since_older_than_the_horizon_requires_a_resync() -> None:
    bus = Bus(log=MemoryEventLog(10))
    await fill(bus, 30)
    sink = QueueSink(100)
    sub = await bus.subscribe([CHANGE], sink, since=5)
    frames = [frame async for frame in sink]
    assert len(frames) == 1
    notice = decode(frames[0])
    assert notice.name == "resync.required"
    assert notice.data == {"since": 5, "oldest": 21}
    assert sink.close_code == CLOSE_RESYNC_REQUIRED
    assert sink.close_reason is not None and "purged" in sink.close_reason
    assert not sub.active and bus.subscriptions == 0
    assert bus.stats.resyncs == 1
    await fill(bus, 1)  # nothing more arrives
    assert sink.get_nowait() == []


async def test_since_older_than_an_emptied_log_requires_a_resync() -> None:
    log = MemoryEventLog(100)
    bus = Bus(log=log)
    await fill(bus, 5)
    log.purge_through(5)
    sink = QueueSink(10)
    await bus.subscribe([CHANGE], sink, since=2)
    assert orjson.loads(sink.get_nowait()[0])["data"] == {"since": 2, "oldest": 6}
    assert sink.close_code == CLOSE_RESYNC_REQUIRED


async def test_since_ahead_of_the_stream_requires_a_resync() -> None:
    bus = Bus(log=MemoryEventLog(100))
    await fill(bus, 3)
    sink = QueueSink(10)
    await bus.subscribe([CHANGE], sink, since=50)
    assert decode(sink.get_nowait()[0]).name == "resync.required"
    assert sink.close_code == CLOSE_RESYNC_REQUIRED


class PurgingLog(MemoryEventLog):
    """Purges through ``purge_at`` just before the first read, as the purge task might."""

    def __init__(self, purge_at: int) -> None:
        super().__init__(100)
        self.purge_at = purge_at

    async def read_since(self, seq: int, limit: int) -> list[Event]:
        if self.purge_at:
            self.purge_through(self.purge_at)
            self.purge_at = 0
        return await super().read_since(seq, limit)


async def test_a_purge_during_the_resume_requires_a_resync() -> None:
    bus = Bus(log=PurgingLog(purge_at=30))
    await fill(bus, 50)
    sink = QueueSink(100)
    await bus.subscribe([CHANGE], sink, since=10)
    (frame,) = sink.get_nowait()
    assert decode(frame).data == {"since": 10, "oldest": 31}
    assert sink.close_code == CLOSE_RESYNC_REQUIRED


async def test_since_zero_on_an_empty_log_is_just_live() -> None:
    bus = Bus(log=MemoryEventLog(100))
    sink = QueueSink(10)
    await bus.subscribe([CHANGE], sink, since=0)
    await fill(bus, 2)
    assert seqs(sink) == [1, 2]


async def test_resume_needs_a_log() -> None:
    bus = Bus()
    with pytest.raises(BusError):
        await bus.subscribe([CHANGE], QueueSink(10), since=0)
    with pytest.raises(BusError):
        await bus.publish_persistent(Event.new(CHANGE))
    assert bus.subscriptions == 0


async def test_since_must_be_an_integer() -> None:
    bus = Bus(log=MemoryEventLog(10))
    with pytest.raises(ProtocolError):
        await bus.subscribe([CHANGE], QueueSink(10), since="5")  # type: ignore[arg-type]


async def test_publish_persistent_many_assigns_seqs_in_order() -> None:
    bus = Bus(log=MemoryEventLog(100))
    sink = QueueSink(10)
    await bus.subscribe(["resource.change;account=5", "resource.change;account=6"], sink)
    batch = [Event.new("resource.change;account=5"), Event.new("resource.change;account=6")]
    assert await bus.publish_persistent_many(batch) == [1, 2]
    assert await bus.publish_persistent_many([]) == []
    assert seqs(sink) == [1, 2]
    assert bus.stats.persisted == 2


@pytest.mark.parametrize("page", [7, 500])
@pytest.mark.parametrize("yielding", [True, False])
@pytest.mark.parametrize(("since", "join_at"), [(500, 1000), (0, 4990), (2000, 2000)])
async def test_resume_under_concurrent_publishing_has_no_gap_and_no_duplicate(
    page: int, yielding: bool, since: int, join_at: int
) -> None:
    total = 5000
    memory = MemoryEventLog(20_000)
    bus = Bus(log=YieldingLog(memory) if yielding else memory, replay_page=page)
    joined = asyncio.Event()
    reached = asyncio.Event()

    async def publisher() -> None:
        for n in range(1, total + 1):
            await bus.publish_persistent(Event.new(CHANGE, data={"n": n}))
            await bus.publish(Event.new("ping"))  # live only, no seq
            if n == join_at:
                reached.set()
                await joined.wait()
            elif n % 3 == 0:
                await asyncio.sleep(0)

    sink = QueueSink(64)  # smaller than the replay: the replay must wait for the reader
    got: list[int] = []
    pings = 0
    done = asyncio.Event()

    async def reader() -> None:
        nonlocal pings
        async for frame in sink:
            event = decode(frame)
            if event.seq is None:
                pings += 1
                continue
            got.append(event.seq)
            if event.seq == total:
                done.set()

    publishing = asyncio.create_task(publisher())
    await reached.wait()
    reading = asyncio.create_task(reader())
    subscribing = asyncio.create_task(bus.subscribe([CHANGE, "ping"], sink, since=since))
    await asyncio.sleep(0)
    joined.set()
    await subscribing
    await publishing
    await asyncio.wait_for(done.wait(), 30)
    sink.close(1000, "test over")
    await reading

    assert got == list(range(since + 1, total + 1))
    assert sink.close_code == 1000  # never dropped
    assert pings > 0


class GatedLog(MemoryEventLog):
    """Appends wait at ``gate`` after the seq is assigned, like a slow commit."""

    def __init__(self) -> None:
        super().__init__(100)
        self.gate = asyncio.Event()
        self.gate.set()

    async def append(self, event: Event) -> int:
        seq = await super().append(event)
        await self.gate.wait()
        return seq


async def test_an_event_logged_but_not_yet_routed_is_delivered_once() -> None:
    log = GatedLog()
    bus = Bus(log=log)
    await fill(bus, 5)
    log.gate.clear()
    publishing = asyncio.create_task(fill(bus, 1))  # seq 6: in the log, not yet routed
    while await log.last_seq() < 6:
        await asyncio.sleep(0)
    sink = QueueSink(100)
    subscribing = asyncio.create_task(bus.subscribe([CHANGE], sink, since=3))
    while not subscribing.done() and len(sink) < 2:
        await asyncio.sleep(0)
    for _ in range(20):  # let the resume get as far as it can
        await asyncio.sleep(0)
    log.gate.set()
    await publishing
    await subscribing
    await fill(bus, 1)
    assert seqs(sink) == [4, 5, 6, 7]


async def test_a_resuming_reader_that_falls_too_far_behind_is_dropped() -> None:
    bus = Bus(log=MemoryEventLog(1000), hold_limit=10)
    await fill(bus, 100)
    sink = QueueSink(5)  # never drained: the replay blocks after 5 frames
    subscribing = asyncio.create_task(bus.subscribe([CHANGE], sink, since=0))
    await until_replay_waits(sink)
    await fill(bus, 11)  # live events pile up in the holding buffer
    sub = await subscribing
    assert sink.close_code == CLOSE_SLOW_CONSUMER
    assert not sub.active and bus.subscriptions == 0
    assert bus.stats.dropped_slow_consumers == 1


async def test_a_resuming_reader_that_disconnects_is_removed() -> None:
    bus = Bus(log=MemoryEventLog(1000))
    await fill(bus, 100)
    sink = QueueSink(5)
    subscribing = asyncio.create_task(bus.subscribe([CHANGE], sink, since=0))
    await until_replay_waits(sink)
    sink.close(1000, "client left")
    sub = await subscribing
    assert not sub.active and bus.subscriptions == 0


async def test_cancelled_resume_leaves_no_subscription() -> None:
    bus = Bus(log=MemoryEventLog(1000))
    await fill(bus, 100)
    sink = QueueSink(5)
    subscribing = asyncio.create_task(bus.subscribe([CHANGE], sink, since=0))
    await until_replay_waits(sink)
    subscribing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await subscribing
    assert bus.subscriptions == 0
