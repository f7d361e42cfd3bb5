from __future__ import annotations

import asyncio

import pytest

from corral.bus.sink import CLOSE_SLOW_CONSUMER, QueueSink, Sink
from corral.errors import SlowConsumer


def test_queue_sink_is_a_sink() -> None:
    assert isinstance(QueueSink(3), Sink)


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError):
        QueueSink(0)


async def test_frames_come_out_in_order() -> None:
    sink = QueueSink(10)
    for n in range(3):
        assert sink.offer(b"%d" % n)
    assert len(sink) == 3 and sink.room() == 7
    assert [await sink.get() for _ in range(3)] == [b"0", b"1", b"2"]


async def test_get_waits_for_an_offer() -> None:
    sink = QueueSink(10)
    getter = asyncio.create_task(sink.get())
    await asyncio.sleep(0)
    assert not getter.done()
    sink.offer(b"x")
    assert await getter == b"x"


async def test_close_drains_then_ends_the_stream() -> None:
    sink = QueueSink(10)
    sink.offer(b"a")
    sink.offer(b"b")
    sink.close(1000, "bye")
    assert not sink.offer(b"c")
    assert [frame async for frame in sink] == [b"a", b"b"]
    assert await sink.get() is None
    assert (sink.close_code, sink.close_reason) == (1000, "bye")
    assert sink.exception() is None


async def test_close_wakes_a_waiting_reader() -> None:
    sink = QueueSink(10)
    getter = asyncio.create_task(sink.get())
    await asyncio.sleep(0)
    sink.close(1001, "going away")
    assert await getter is None


async def test_overflow_closes_with_4008_and_discards_what_was_queued() -> None:
    sink = QueueSink(2)
    assert sink.offer(b"1") and sink.offer(b"2")
    assert not sink.offer(b"3")
    assert sink.closed and sink.overflowed
    assert sink.close_code == CLOSE_SLOW_CONSUMER
    assert sink.close_reason == "slow consumer: send queue of 2 events overflowed"
    assert await sink.get() is None
    assert isinstance(sink.exception(), SlowConsumer)
    assert sink.room() == 0


async def test_first_close_wins() -> None:
    sink = QueueSink(1)
    sink.offer(b"1")
    sink.offer(b"2")
    sink.close(1000, "later")
    assert sink.close_code == CLOSE_SLOW_CONSUMER


async def test_wait_room_returns_when_a_frame_is_taken() -> None:
    sink = QueueSink(1)
    sink.offer(b"1")
    waiter = asyncio.create_task(sink.wait_room())
    await asyncio.sleep(0)
    assert not waiter.done()
    assert await sink.get() == b"1"
    await waiter
    assert sink.room() == 1


async def test_wait_room_returns_when_closed() -> None:
    sink = QueueSink(1)
    sink.offer(b"1")
    waiter = asyncio.create_task(sink.wait_room())
    await asyncio.sleep(0)
    sink.close(1000, "")
    await waiter


def test_get_nowait_takes_a_batch() -> None:
    sink = QueueSink(10)
    for n in range(5):
        sink.offer(b"%d" % n)
    assert sink.get_nowait(2) == [b"0", b"1"]
    assert sink.get_nowait() == [b"2", b"3", b"4"]
    assert sink.get_nowait() == []
