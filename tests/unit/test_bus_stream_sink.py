"""StreamSink: one write per loop turn to the transport; a bounded backlog only while it is
paused."""

from __future__ import annotations

import asyncio

import pytest

from corral.bus import Bus, MemoryEventLog
from corral.bus.sink import CLOSE_NORMAL, CLOSE_SLOW_CONSUMER, Sink
from corral.bus.stream_sink import StreamSink
from corral.protocol.event import Event, decode
from tests.conftest import eventually


class FakeTransport:
    """Records what is written; ``writes`` counts write/writelines calls (sends)."""

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.writes = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        assert not self.closing
        self.data.append(data)
        self.writes += 1

    def writelines(self, items: list[bytes]) -> None:
        assert not self.closing
        self.data.extend(items)
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closing


class FakeFlow:
    """Flow control like aiohttp's protocol: paused until ``resume()``."""

    def __init__(self) -> None:
        self.writing_paused = False
        self._resumed = asyncio.Event()
        self.lost = False

    def pause(self) -> None:
        self.writing_paused = True
        self._resumed.clear()

    def resume(self) -> None:
        self.writing_paused = False
        self._resumed.set()

    def lose(self) -> None:
        self.lost = True
        self._resumed.set()

    async def _drain_helper(self) -> None:
        if self.writing_paused:
            await self._resumed.wait()
        if self.lost:
            raise ConnectionResetError("Connection lost")


class FinishingSink(StreamSink):
    """Records ``_finish`` (where the WebSocket sink sends its close frame)."""

    __slots__ = ("finished",)

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.finished: list[int | None] = []

    def _closed(self) -> None:
        if self.close_code != CLOSE_NORMAL:
            self._start_pump()

    async def _finish(self) -> None:
        self.finished.append(self.close_code)


def make(maxsize: int = 10, cls: type[StreamSink] = StreamSink
         ) -> tuple[StreamSink, FakeTransport, FakeFlow]:
    transport, flow = FakeTransport(), FakeFlow()
    return cls(transport, flow, maxsize, label="test"), transport, flow


async def test_a_stream_sink_is_a_sink() -> None:
    sink, _, _ = make()
    assert isinstance(sink, Sink)
    with pytest.raises(ValueError):
        StreamSink(FakeTransport(), FakeFlow(), 0)


async def test_a_turn_s_frames_go_out_in_one_write_without_a_queue_or_a_task() -> None:
    sink, transport, _ = make(3)
    for n in range(3):
        assert sink.offer(b"%d" % n)
    assert transport.data == [] and len(sink) == 3 and sink.room() == 0
    await asyncio.sleep(0)  # the next loop turn
    assert transport.data == [b"0", b"1", b"2"] and transport.writes == 1
    assert sink.offer(b"3")
    await asyncio.sleep(0)
    assert transport.data[-1] == b"3" and transport.writes == 2
    assert sink._backlog is None and sink._pending is None and sink.pump is None
    assert len(sink) == 0 and sink.room() == 3 and not sink.closed


async def test_more_than_maxsize_in_one_turn_overflows() -> None:
    sink, transport, _ = make(3)
    assert all(sink.offer(b"%d" % n) for n in range(3))
    assert not sink.offer(b"3")
    assert sink.close_code == CLOSE_SLOW_CONSUMER and len(sink) == 0
    await asyncio.sleep(0)
    assert transport.data == []


async def test_many_sinks_are_written_by_one_callback_per_turn() -> None:
    sinks = [make(5) for _ in range(50)]
    for round_ in range(3):
        for sink, _, _ in sinks:
            sink.offer(b"%d" % round_)
    loop = asyncio.get_running_loop()
    handles = len(getattr(loop, "_ready", ()))  # asyncio's ready queue, when it has one
    await asyncio.sleep(0)
    for _, transport, _ in sinks:
        assert transport.data == [b"0", b"1", b"2"] and transport.writes == 1
    if hasattr(loop, "_ready"):
        assert handles <= 2  # the flusher's callback (and this task's wake-up), not 50


async def test_a_paused_transport_buffers_then_drains_in_order() -> None:
    sink, transport, flow = make(100)
    sink.offer(b"0")
    await asyncio.sleep(0)
    flow.pause()
    for n in range(1, 40):
        assert sink.offer(b"%d" % n)
    await asyncio.sleep(0)  # the turn's frames find the transport paused: a backlog
    assert sink.pump is not None and sink._backlog is not None
    for n in range(40, 80):
        assert sink.offer(b"%d" % n)  # straight to the backlog
    await asyncio.sleep(0)
    assert transport.data == [b"0"]
    assert len(sink) == 79 and sink.room() == 21
    flow.resume()
    sink.offer(b"80")  # the backlog is not written yet: this one waits behind it
    await eventually(lambda: sink.pump is None, "the backlog written")
    sink.offer(b"81")  # no backlog: written at the next turn
    await asyncio.sleep(0)
    assert transport.data == [b"%d" % n for n in range(82)]
    assert sink._backlog is None and len(sink) == 0 and not sink.closed
    # the backlog went out in batches (one writev of up to 64 frames), not one send per frame
    assert transport.writes == 1 + 2 + 1


async def test_a_backlog_that_overflows_closes_with_4008_and_is_thrown_away() -> None:
    sink, transport, flow = make(3, FinishingSink)
    flow.pause()
    assert sink.offer(b"1") and sink.offer(b"2")
    await asyncio.sleep(0)
    assert sink.offer(b"3") and sink._backlog is not None
    assert not sink.offer(b"4")
    assert sink.close_code == CLOSE_SLOW_CONSUMER and sink.overflowed
    assert sink.close_reason == "slow consumer: send queue of 3 events overflowed"
    assert len(sink) == 0 and sink.room() == 0
    assert not sink.offer(b"5")
    flow.resume()
    await eventually(lambda: sink.pump is None, "the pump done")
    assert transport.data == []
    assert sink.finished == [CLOSE_SLOW_CONSUMER]  # the close frame goes out after all


async def test_a_slow_consumer_is_dropped_and_a_fast_one_gets_everything() -> None:
    bus = Bus()
    fast, fast_out, _ = make(5)
    slow, slow_out, slow_flow = make(5)
    await bus.subscribe(["e"], fast)
    await bus.subscribe(["e"], slow)
    slow_flow.pause()
    for n in range(20):
        await bus.publish(Event.new("e", data={"n": n}))
        await asyncio.sleep(0)
    assert [decode(f).data["n"] for f in fast_out.data] == list(range(20))
    assert not fast.closed
    assert slow.close_code == CLOSE_SLOW_CONSUMER and slow_out.data == []
    assert bus.stats.dropped_slow_consumers == 1 and bus.subscriptions == 1


async def test_wait_room_waits_for_the_backlog_to_drain() -> None:
    sink, _, flow = make(4)
    flow.pause()
    for n in range(4):
        sink.offer(b"%d" % n)
    await asyncio.sleep(0)
    assert sink.pump is not None
    waiter = asyncio.create_task(sink.wait_room(2))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    flow.resume()
    await asyncio.wait_for(waiter, 5)
    assert sink.room() >= 2


async def test_wait_room_returns_when_closed() -> None:
    sink, _, flow = make(1)
    flow.pause()
    sink.offer(b"1")
    waiter = asyncio.create_task(sink.wait_room())
    await asyncio.sleep(0)
    sink.close(1000, "")
    await asyncio.wait_for(waiter, 5)


async def test_a_closing_transport_closes_the_sink() -> None:
    sink, transport, _ = make()
    transport.closing = True
    assert sink.offer(b"x")
    await asyncio.sleep(0)
    assert (sink.close_code, sink.close_reason) == (CLOSE_NORMAL, "connection lost")
    assert transport.data == [] and not sink.offer(b"y")


async def test_a_connection_lost_while_paused_ends_the_pump() -> None:
    sink, transport, flow = make()
    flow.pause()
    sink.offer(b"x")
    await asyncio.sleep(0)
    pump = sink.pump
    assert pump is not None
    flow.lose()
    await asyncio.wait_for(pump, 5)
    assert (sink.close_code, sink.close_reason) == (CLOSE_NORMAL, "connection lost")
    assert transport.data == [] and len(sink) == 0


async def test_a_close_keeps_the_backlog_then_finishes() -> None:
    sink, transport, flow = make(10, FinishingSink)
    flow.pause()
    sink.offer(b"last event")
    sink.close(4010, "resync required")  # in the same turn: the pump takes the frame
    assert not sink.offer(b"too late")
    assert sink.finished == []
    flow.resume()
    await eventually(lambda: sink.pump is None, "the pump done")
    assert transport.data == [b"last event"]
    assert sink.finished == [4010]


async def test_resume_through_a_paused_transport_gets_everything_in_order() -> None:
    bus = Bus(log=MemoryEventLog(1000), replay_page=50)
    for n in range(300):
        await bus.publish_persistent(Event.new("c", data={"n": n}))
    sink, transport, flow = make(40)  # far smaller than the replay
    flow.pause()
    subscribing = asyncio.create_task(bus.subscribe(["c"], sink, since=100))
    await eventually(lambda: len(sink) >= 30, "the replay waiting for room")
    assert not subscribing.done()
    for _ in range(20):  # the transport drains and pauses again, a few times
        flow.resume()
        await asyncio.sleep(0)
        flow.pause()
        await asyncio.sleep(0)
        for n in range(2):
            await bus.publish_persistent(Event.new("c", data={"live": n}))
    flow.resume()
    await asyncio.wait_for(subscribing, 10)
    await eventually(lambda: sink.pump is None, "the backlog written")
    got = [decode(f).seq for f in transport.data]
    assert got == list(range(101, 341))
    assert not sink.closed


async def test_a_close_in_the_same_turn_still_writes_the_frame_first() -> None:
    sink, transport, _ = make(10, FinishingSink)
    sink.offer(b"resync.required")
    sink.close(4010, "resync required")
    await eventually(lambda: sink.finished, "the close finished")
    assert transport.data == [b"resync.required"] and sink.finished == [4010]


async def test_a_discarding_close_throws_away_the_turn_s_frames() -> None:
    sink, transport, _ = make(10)
    sink.offer(b"x")
    sink.close(1001, "going away", discard=True)
    await asyncio.sleep(0)
    assert transport.data == [] and len(sink) == 0
