"""A subscriber that stops reading is disconnected (4008); the others get every event (§3)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.conftest import TIMEOUT_FACTOR, RunningServer, eventually

from corral.protocol.event import Event

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

PAD = "x" * 32_768  # big events fill the socket buffers quickly
MAX_EVENTS = 3000  # bound: the slow one overflows long before this


async def test_a_slow_consumer_is_closed_and_the_fast_one_gets_everything(
        server: RunningServer, api: httpx.AsyncClient, subscribe, publish) -> None:
    r = await api.put("/v1/settings/api.sub.queue.max.events", json={"value": "50"})
    assert r.status_code == 200, r.text
    stats = server.services.bus.stats
    dropped_before = stats.dropped_slow_consumers
    fast = await subscribe("bulk", label="fast")
    slow = await subscribe("bulk", label="slow")
    slow.pause_reading()

    published = 0
    while stats.dropped_slow_consumers == dropped_before:
        assert published < MAX_EVENTS, "the slow consumer was never disconnected"
        # Stay at most 20 events ahead of the fast reader: its queue (50) never overflows.
        await fast.wait_for(lambda s, n=published: len(s.events) >= n - 20, "the fast reader")
        r = await publish({"name": "bulk", "data": {"i": published, "pad": PAD}})
        assert r.status_code == 201
        published += 1
    # A few more after the drop: they reach the fast reader only.
    for _ in range(5):
        assert (await publish({"name": "bulk", "data": {"i": published, "pad": PAD}})
                ).status_code == 201
        published += 1

    await fast.wait_for(lambda s: len(s.events) == published, f"all {published} events",
                        timeout=30)
    assert [e["data"]["i"] for e in fast.events] == list(range(published))
    assert not fast.ended.is_set()
    assert stats.dropped_slow_consumers == dropped_before + 1

    # The slow reader wakes up: what it gets is an unbroken prefix, then the close.
    slow.start_reading()
    await slow.wait_closed(timeout=30)
    got = [e["data"]["i"] for e in slow.events]
    assert got == list(range(len(got)))
    assert len(got) < published - 5
    # 4008 with the reason when the close frame got through; a dropped connection (1006)
    # when the server had to abort a socket whose buffers stayed full.
    assert slow.close_code in (4008, 1006), slow.close_code
    if slow.close_code == 4008:
        assert "slow consumer" in slow.close_reason

    # The server is fine: a new subscriber works, and the fast one still does.
    late = await subscribe("bulk", label="late")
    assert (await publish({"name": "bulk", "data": {"i": published}})).status_code == 201
    await late.wait_for(lambda s: len(s.events) == 1, "an event after the drop")
    await fast.wait_for(lambda s: len(s.events) == published + 1, "that event too")


async def test_the_queue_bound_applies_to_new_sockets(server: RunningServer,
                                                      api: httpx.AsyncClient,
                                                      subscribe) -> None:
    r = await api.put("/v1/settings/api.sub.queue.max.events", json={"value": "3"})
    assert r.status_code == 200
    slow = await subscribe("burst", label="slow")
    bus = server.services.bus
    before = bus.stats.dropped_slow_consumers
    # Published in one go (no await in between), the socket's writer cannot drain: the
    # fourth event overflows the 3-event queue.
    for i in range(4):
        await bus.publish(Event.new("burst", data={"i": i}))
    assert bus.stats.dropped_slow_consumers == before + 1
    await slow.wait_closed()
    assert slow.close_code == 4008
    assert slow.events == []  # what was queued was thrown away with the socket


async def test_a_socket_that_never_reads_again_is_dropped_by_the_server(
        server: RunningServer, api: httpx.AsyncClient, subscribe, publish) -> None:
    """Its buffers stay full, so no close frame can get through: the server aborts it."""
    assert (await api.put("/v1/settings/api.sub.queue.max.events", json={"value": "20"})
            ).status_code == 200
    services = server.services
    fast = await subscribe("bulk", label="fast")
    open_before = len(services.pinger.sinks)
    subs_before = services.bus.subscriptions
    stuck = await subscribe("bulk", label="stuck")
    stuck.pause_reading()
    assert len(services.pinger.sinks) == open_before + 1
    dropped_before = services.bus.stats.dropped_slow_consumers
    published = 0
    while services.bus.stats.dropped_slow_consumers == dropped_before:
        assert published < MAX_EVENTS, "the stuck consumer was never disconnected"
        await fast.wait_for(lambda s, n=published: len(s.events) >= n - 10, "the fast reader")
        assert (await publish({"name": "bulk", "data": {"i": published, "pad": PAD}})
                ).status_code == 201
        published += 1
    assert services.bus.subscriptions == subs_before  # unsubscribed at once
    # The socket itself is released too (after a short grace period for the close frame).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10 * TIMEOUT_FACTOR
    while len(services.pinger.sinks) > open_before:
        assert loop.time() < deadline, "the server kept the stuck socket open"
        await asyncio.sleep(0.05)
    await fast.wait_for(lambda s: len(s.events) == published, "every event")
    stuck.start_reading()
    await stuck.wait_closed(timeout=30)
    assert stuck.close_code in (4008, 1006)


async def test_a_reader_that_pauses_gets_everything_in_order_after_a_backlog(
        server: RunningServer, subscribe) -> None:
    """Its transport pauses, events wait in the server's sink, then go out in order."""
    sock = await subscribe("bulk", label="pausing")
    (sink,) = server.services.pinger.sinks
    assert sink.pump is None  # an idle socket has no writer task
    sock.pause_reading()
    bus = server.services.bus
    published = 0
    while sink.pump is None or len(sink) < 10:  # the buffers fill, the transport pauses
        assert published < MAX_EVENTS, "the transport never paused"
        await bus.publish(Event.new("bulk", data={"i": published, "pad": PAD}))
        published += 1
        await asyncio.sleep(0)  # a loop turn: the sink writes what it was offered
    assert not sink.closed
    sock.start_reading()
    await sock.wait_for(lambda s: len(s.events) == published, "every event", timeout=30)
    assert [e["data"]["i"] for e in sock.events] == list(range(published))
    await eventually(lambda: sink.pump is None and len(sink) == 0, "the backlog written")
    await bus.publish(Event.new("bulk", data={"i": published}))  # no backlog any more
    await sock.wait_for(lambda s: len(s.events) == published + 1, "one more")
    assert not sock.ended.is_set() and not sink.closed
    assert bus.stats.dropped_slow_consumers == 0
