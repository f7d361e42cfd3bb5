from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from corral.bus import Bus, QueueSink
from corral.errors import BusError, CallTimeout, ErrorReply
from corral.protocol.event import Event, decode, reply_to
from tests.conftest import TIMEOUT_FACTOR

SCALE = TIMEOUT_FACTOR  # the suite's one scale for waits (CORRAL_TEST_TIMEOUT_FACTOR)
NAME = "compute.instance.activate;agent=7"

Handler = Callable[[Bus, Event], Awaitable[None]]


class Agent:
    """A responder subscribed on the bus: records requests, answers with ``handler``."""

    def __init__(self, bus: Bus, handler: Handler) -> None:
        self.bus = bus
        self.handler = handler
        self.sink = QueueSink(100)
        self.requests: list[Event] = []
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.bus.subscribe([NAME], self.sink)
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for frame in self.sink:
            request = decode(frame)
            self.requests.append(request)
            await self.handler(self.bus, request)

    async def stop(self) -> None:
        self.sink.close(1000, "done")
        if self.task is not None:
            await self.task


@pytest.fixture
async def bus() -> AsyncIterator[Bus]:
    bus = Bus()
    yield bus
    await bus.close()


async def start_agent(bus: Bus, handler: Handler) -> Agent:
    agent = Agent(bus, handler)
    await agent.start()
    return agent


async def answer_ok(bus: Bus, request: Event) -> None:
    await bus.publish(reply_to(request, data={"ok": True}))


async def never_answer(bus: Bus, request: Event) -> None:
    return None


async def test_call_returns_the_final_reply(bus: Bus) -> None:
    agent = await start_agent(bus, answer_ok)
    event = Event.new(NAME, data={"instance": 1})
    reply = await bus.call(event, timeout=5 * SCALE)
    assert reply.data == {"ok": True}
    (request,) = agent.requests
    assert request.id == event.id and request.data == {"instance": 1}
    assert request.reply_to is not None and request.reply_to.startswith("reply.")
    assert int(request.reply_to.removeprefix("reply.")) > 0
    assert request.timeout_millis == round(5 * SCALE * 1000)
    assert reply.previous_ids == [event.id]
    assert event.reply_to is None  # the caller's event is not modified
    assert bus.pending_calls == 0
    assert (bus.stats.calls, bus.stats.replies_matched, bus.stats.replies_unmatched) == (1, 1, 0)
    await agent.stop()


async def test_transitioning_no_is_final_success(bus: Bus) -> None:
    async def handler(bus: Bus, request: Event) -> None:
        await bus.publish(reply_to(request, transitioning="no"))

    agent = await start_agent(bus, handler)
    reply = await bus.call(Event.new(NAME), timeout=5 * SCALE)
    assert reply.transitioning == "no"
    await agent.stop()


async def test_error_reply_raises_with_the_message(bus: Bus) -> None:
    async def handler(bus: Bus, request: Event) -> None:
        await bus.publish(reply_to(request, transitioning="error", message="no such image"))

    agent = await start_agent(bus, handler)
    with pytest.raises(ErrorReply) as info:
        await bus.call(Event.new(NAME), timeout=5 * SCALE)
    assert info.value.message == "no such image"
    assert isinstance(info.value.reply, Event)
    assert info.value.reply.transitioning == "error"
    assert bus.stats.call_errors == 1
    await agent.stop()


def slow_worker(steps: int, interval: float) -> Handler:
    """Reports progress ``steps`` times, ``interval`` apart, then answers."""

    async def handler(bus: Bus, request: Event) -> None:
        for step in range(steps):
            await asyncio.sleep(interval)
            await bus.publish(reply_to(request, transitioning="yes", progress=step * 10))
        await asyncio.sleep(interval)
        await bus.publish(reply_to(request, data={"done": True}))

    return handler


async def test_progress_replies_keep_the_call_alive(bus: Bus) -> None:
    timeout = 0.2 * SCALE
    agent = await start_agent(bus, slow_worker(4, timeout / 3))  # total 1.7 x timeout
    seen: list[int | None] = []
    reply = await bus.call(
        Event.new(NAME),
        timeout=timeout,
        on_progress=lambda r: seen.append(r.transitioning_progress),
    )
    assert reply.data == {"done": True}
    assert seen == [0, 10, 20, 30]
    await agent.stop()


async def test_async_progress_callback_is_awaited(bus: Bus) -> None:
    agent = await start_agent(bus, slow_worker(2, 0.01 * SCALE))
    seen: list[Event] = []

    async def on_progress(reply: Event) -> None:
        await asyncio.sleep(0)
        seen.append(reply)

    await bus.call(Event.new(NAME), timeout=5 * SCALE, on_progress=on_progress)
    assert len(seen) == 2
    await agent.stop()


async def test_progress_without_a_callback_does_not_extend_the_timeout(bus: Bus) -> None:
    timeout = 0.1 * SCALE
    agent = await start_agent(bus, slow_worker(4, timeout / 2))
    with pytest.raises(CallTimeout):
        await bus.call(Event.new(NAME), timeout=timeout)
    await agent.stop()


async def test_timeout_retries_as_new_events_then_raises(bus: Bus) -> None:
    agent = await start_agent(bus, never_answer)
    event = Event.new(NAME, data={"same": "data"})
    with pytest.raises(CallTimeout) as info:
        await bus.call(event, timeout=0.02 * SCALE, retries=2)
    assert "after 3 attempts" in str(info.value)
    assert len(agent.requests) == 3
    assert agent.requests[0].id == event.id
    assert len({r.id for r in agent.requests}) == 3
    assert len({r.reply_to for r in agent.requests}) == 3
    assert all(r.data == {"same": "data"} for r in agent.requests)
    assert (bus.stats.call_retries, bus.stats.call_timeouts) == (2, 1)
    assert bus.pending_calls == 0
    await agent.stop()


async def test_retry_succeeds_and_the_late_first_reply_is_ignored(bus: Bus) -> None:
    first: list[Event] = []

    async def handler(bus: Bus, request: Event) -> None:
        if not first:
            first.append(request)  # too busy: answer later
        else:
            await bus.publish(reply_to(request, data={"attempt": 2}))

    agent = await start_agent(bus, handler)
    reply = await bus.call(Event.new(NAME), timeout=0.05 * SCALE, retries=1)
    assert reply.data == {"attempt": 2}
    assert await bus.publish(reply_to(first[0], data={"attempt": 1})) == 0
    assert bus.stats.replies_unmatched == 1
    await agent.stop()


async def test_late_duplicate_and_unknown_replies_are_counted_not_raised(bus: Bus) -> None:
    requests: list[Event] = []

    async def handler(bus: Bus, request: Event) -> None:
        requests.append(request)
        # wrong correlation first: must not end the call
        await bus.publish(reply_to(request.copy(id="someone-else")))
        await bus.publish(reply_to(request, data={"n": 1}))
        await bus.publish(reply_to(request, data={"n": 2}))  # duplicate, same tick

    agent = await start_agent(bus, handler)
    reply = await bus.call(Event.new(NAME), timeout=5 * SCALE)
    assert reply.data == {"n": 1}
    assert bus.stats.replies_unmatched == 2  # wrong previousIds + duplicate

    await bus.publish(reply_to(requests[0], data={"n": 3}))  # late
    await bus.publish(Event.new("reply.12345", previous_ids=["nobody"]))  # unknown
    await bus.publish(Event.new("reply.999"))  # no previousIds at all
    assert bus.stats.replies_unmatched == 5
    assert bus.stats.replies_matched == 1
    await agent.stop()


async def test_reply_subscribers_still_receive_replies(bus: Bus) -> None:
    sink = QueueSink(10)
    await bus.subscribe(["reply.77"], sink, delivery_name=None)
    assert await bus.publish(Event.new("reply.77", previous_ids=["x"])) == 1
    assert bus.stats.replies_unmatched == 0


async def test_closing_the_bus_fails_waiting_calls(bus: Bus) -> None:
    agent = await start_agent(bus, never_answer)
    call = asyncio.create_task(bus.call(Event.new(NAME), timeout=60))
    while not agent.requests:
        await asyncio.sleep(0)
    await bus.close()
    with pytest.raises(BusError):
        await call
    with pytest.raises(BusError):
        await bus.call(Event.new(NAME), timeout=1)
    assert agent.task is not None
    await agent.task  # its sink was closed by the bus


async def test_cancelled_call_leaves_nothing_pending(bus: Bus) -> None:
    agent = await start_agent(bus, never_answer)
    call = asyncio.create_task(bus.call(Event.new(NAME), timeout=60))
    while not agent.requests:
        await asyncio.sleep(0)
    assert bus.pending_calls == 1
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert bus.pending_calls == 0
    await agent.stop()


@pytest.mark.parametrize(("timeout", "retries"), [(0, 0), (-1, 0), (1, -1)])
async def test_call_rejects_bad_arguments(bus: Bus, timeout: float, retries: int) -> None:
    with pytest.raises(ValueError):
        await bus.call(Event.new(NAME), timeout=timeout, retries=retries)
