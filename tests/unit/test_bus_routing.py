from __future__ import annotations

from collections.abc import Callable

import pytest

import corral.bus.memory as bus_memory
from corral.bus import Bus, QueueSink
from corral.bus.sink import CLOSE_GOING_AWAY, CLOSE_SLOW_CONSUMER
from corral.errors import ProtocolError
from corral.protocol import names
from corral.protocol.event import Event, decode, encode


def received(sink: QueueSink) -> list[Event]:
    return [decode(frame) for frame in sink.get_nowait()]


def received_names(sink: QueueSink) -> list[str]:
    return [event.name for event in received(sink)]


async def test_routing_matrix_delivers_to_exactly_the_right_sockets() -> None:
    bus = Bus()
    agent7, agent8, project5, admin, wildcard = (QueueSink(100) for _ in range(5))
    wanted = ["compute.instance.activate", "ping", "resource.change"]
    await bus.subscribe([names.qualify(n, agent_id=7) for n in wanted], agent7)
    await bus.subscribe([names.qualify(n, agent_id=8) for n in wanted], agent8)
    await bus.subscribe([names.qualify(n, account_id="1a5") for n in wanted], project5)
    await bus.subscribe(["resource.change", "host.create"], admin)
    await bus.subscribe(["*"], wildcard)

    published = [
        "compute.instance.activate;agent=7",
        "compute.instance.activate;agent=8",
        "ping;agent=8",
        "resource.change;account=1a5",
        "resource.change;account=1a6",
        "resource.change",
        "host.create",
        "compute.instance.activate",  # unqualified: no agent asked for it raw
    ]
    for name in published:
        await bus.publish(Event.new(name))

    assert received_names(agent7) == ["compute.instance.activate"]
    assert received_names(agent8) == ["compute.instance.activate", "ping"]
    assert received_names(project5) == ["resource.change"]
    assert received_names(admin) == ["resource.change", "host.create"]
    # "*" gets everything once: not the per-project copies of an event (";account=")
    assert received_names(wildcard) == [names.strip(n) for n in published
                                        if ";account=" not in n]
    assert bus.stats.published == len(published)
    assert bus.stats.delivered == 1 + 2 + 1 + 2 + len(published) - 2


async def test_raw_delivery_keeps_the_qualified_name() -> None:
    bus = Bus()
    raw = QueueSink(10)
    await bus.subscribe(["physicalhost.activate;handler=demo"], raw, delivery_name=None)
    await bus.publish(Event.new("physicalhost.activate;handler=demo"))
    assert received_names(raw) == ["physicalhost.activate;handler=demo"]


async def test_delivered_frame_is_the_event_with_its_name_stripped() -> None:
    bus = Bus()
    sink = QueueSink(10)
    await bus.subscribe(["compute.instance.activate;agent=7"], sink)
    event = Event.new("compute.instance.activate;agent=7", data={"x": 1}, reply_to="reply.5")
    await bus.publish(event)
    (got,) = received(sink)
    assert got == event.copy(name="compute.instance.activate")


async def test_a_subscription_to_star_and_a_name_gets_each_event_once() -> None:
    bus = Bus()
    sink = QueueSink(10)
    await bus.subscribe(["*", "ping"], sink)
    await bus.publish(Event.new("ping"))
    assert received_names(sink) == ["ping"]


async def test_event_is_encoded_once_per_delivery_name(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str | None] = []
    real_encode: Callable[..., bytes] = encode

    def counting_encode(event: Event, *, name: str | None = None) -> bytes:
        calls.append(name)
        return real_encode(event, name=name)

    monkeypatch.setattr(bus_memory, "encode", counting_encode)
    bus = Bus()
    sinks = [QueueSink(10) for _ in range(20)]
    for sink in sinks:
        await bus.subscribe(["resource.change;account=5"], sink)
    assert await bus.publish(Event.new("resource.change;account=5")) == 20
    assert calls == ["resource.change"]

    raw = QueueSink(10)
    await bus.subscribe(["resource.change;account=5"], raw, delivery_name=None)
    calls.clear()
    assert await bus.publish(Event.new("resource.change;account=5")) == 21
    assert sorted(calls, key=str) == [None, "resource.change"]


async def test_publish_with_no_subscriber_delivers_nothing() -> None:
    bus = Bus()
    assert await bus.publish(Event.new("nobody.listens")) == 0
    assert bus.stats.delivered == 0


async def test_slow_sink_is_dropped_while_the_fast_one_gets_everything() -> None:
    bus = Bus()
    slow = QueueSink(5, label="slow")
    fast = QueueSink(1000, label="fast")
    await bus.subscribe(["resource.change"], slow)
    await bus.subscribe(["resource.change"], fast)
    for n in range(100):
        await bus.publish(Event.new("resource.change", data={"n": n}))
    assert [e.data for e in received(fast)] == [{"n": n} for n in range(100)]
    assert slow.close_code == CLOSE_SLOW_CONSUMER
    assert slow.close_reason == "slow consumer: send queue of 5 events overflowed"
    assert await slow.get() is None
    assert bus.subscriptions == 1
    assert bus.stats.dropped_slow_consumers == 1


async def test_closed_sink_is_dropped_on_next_delivery() -> None:
    bus = Bus()
    sink = QueueSink(5)
    await bus.subscribe(["a"], sink)
    sink.close(1000, "client went away")
    assert await bus.publish(Event.new("a")) == 0
    assert bus.subscriptions == 0
    assert bus.stats.dropped_closed == 1
    assert bus.stats.dropped_slow_consumers == 0


async def test_unsubscribe_stops_delivery_and_is_idempotent() -> None:
    bus = Bus()
    sink = QueueSink(5)
    sub = await bus.subscribe(["a", "b"], sink)
    await bus.unsubscribe(sub)
    await bus.unsubscribe(sub)
    await bus.publish(Event.new("a"))
    assert received(sink) == [] and bus.subscriptions == 0


async def test_subscription_without_names_only_counts() -> None:
    bus = Bus()
    sub = await bus.subscribe([], QueueSink(5))
    assert bus.subscriptions == 1
    await bus.unsubscribe(sub)
    assert bus.subscriptions == 0


async def test_subscribe_rejects_bad_names() -> None:
    bus = Bus()
    with pytest.raises(ProtocolError) as info:
        await bus.subscribe(["ok", "not ok"], QueueSink(5))
    assert info.value.field_name == "eventNames"
    assert bus.subscriptions == 0


async def test_close_closes_every_sink() -> None:
    bus = Bus()
    sinks = [QueueSink(5) for _ in range(3)]
    for sink in sinks:
        await bus.subscribe(["a"], sink)
    await bus.close()
    assert [s.close_code for s in sinks] == [CLOSE_GOING_AWAY] * 3
    assert bus.subscriptions == 0


async def test_wildcard_gets_one_copy_of_an_event_published_per_visibility_group() -> None:
    from corral.bus import Bus, QueueSink
    from corral.protocol.event import Event

    bus = Bus()
    everything, project = QueueSink(10), QueueSink(10)
    await bus.subscribe(["*"], everything)
    await bus.subscribe(["resource.change;account=2"], project)
    await bus.publish(Event.new("resource.change", resource_id="1i1"))
    await bus.publish(Event.new("resource.change;account=2", resource_id="1i1"))
    await bus.publish(Event.new("compute.instance.activate;agent=3"))
    assert len(everything) == 2 and len(project) == 1
