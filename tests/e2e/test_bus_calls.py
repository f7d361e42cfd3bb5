"""Calls through the real server: the engine side calls in process, an "agent" socket answers
with ``POST /v1/publish`` (§2 calls and replies).

The agent is emulated by an admin key subscribing with ``agentId=1ag1`` (names qualified
``;agent=1``), as before agent accounts exist.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.conftest import TIMEOUT_FACTOR, RunningServer

from corral.errors import CallTimeout, ErrorReply
from corral.protocol.event import Event

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

ACTIVATE = "compute.instance.activate"


def start_call(server: RunningServer, *, timeout: float = 5.0, retries: int = 0,
               on_progress: Any = None, data: dict[str, Any] | None = None
               ) -> asyncio.Task[Event]:
    event = Event.new(f"{ACTIVATE};agent=1", resource_type="instance", resource_id="1i5",
                      data=data if data is not None else {"instance": {"id": "1i5"}})
    return asyncio.get_running_loop().create_task(server.services.bus.call(
        event, timeout=timeout * TIMEOUT_FACTOR, retries=retries, on_progress=on_progress))


def reply_body(request: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": request["replyTo"], "previousIds": [request["id"]],
            "previousNames": [request["name"]], **fields}


async def request_number(agent: Any, n: int) -> dict[str, Any]:
    await agent.wait_for(lambda s: len(s.named(ACTIVATE)) >= n, f"request #{n}")
    return agent.named(ACTIVATE)[n - 1]


async def cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_an_agent_answers_a_call(server: RunningServer, subscribe, publish) -> None:
    agent = await subscribe(ACTIVATE, agent_id="1ag1")
    bystander = await subscribe(ACTIVATE, agent_id="1ag2")
    call = start_call(server, data={"instance": {"id": "1i5", "image": "busybox"}})
    try:
        req = await request_number(agent, 1)
        assert req["name"] == ACTIVATE
        assert req["replyTo"].startswith("reply.") and req["replyTo"][6:].isdigit()
        assert req["timeoutMillis"] == round(5000 * TIMEOUT_FACTOR)
        assert req["data"] == {"instance": {"id": "1i5", "image": "busybox"}}
        assert (req["resourceType"], req["resourceId"]) == ("instance", "1i5")
        assert "previousIds" not in req and "transitioningProgress" not in req
        r = await publish(reply_body(req, data={"instance": {"+data": {"pid": 42}}}))
        assert r.status_code == 201, r.text
        reply = await asyncio.wait_for(call, 5 * TIMEOUT_FACTOR)
    finally:
        await cancel(call)
    assert reply.previous_ids == [req["id"]]
    assert reply.data == {"instance": {"+data": {"pid": 42}}}
    assert reply.transitioning is None
    assert bystander.events == []
    assert server.services.bus.pending_calls == 0


async def test_progress_replies_then_the_final_one(server: RunningServer, subscribe, publish,
                                                   project_key) -> None:
    pk, _ = await project_key()  # a non-raw key may publish replies
    agent = await subscribe(ACTIVATE, agent_id="1ag1")
    progress: list[Event] = []
    got_progress = asyncio.Event()

    def on_progress(reply: Event) -> None:
        progress.append(reply)
        got_progress.set()

    call = start_call(server, on_progress=on_progress)
    try:
        req = await request_number(agent, 1)
        for pct in (10, 60):
            got_progress.clear()
            r = await publish(reply_body(req, transitioning="yes", transitioningProgress=pct,
                                         transitioningMessage=f"pulling {pct}%"), auth=pk)
            assert r.status_code == 201, r.text
            await asyncio.wait_for(got_progress.wait(), 5 * TIMEOUT_FACTOR)
            assert not call.done()  # progress is not final
        r = await publish(reply_body(req, transitioning="no", data={"done": True}), auth=pk)
        assert r.status_code == 201
        reply = await asyncio.wait_for(call, 5 * TIMEOUT_FACTOR)
    finally:
        await cancel(call)
    assert [p.transitioning_progress for p in progress] == [10, 60]
    assert [p.transitioning_message for p in progress] == ["pulling 10%", "pulling 60%"]
    assert reply.data == {"done": True}


async def test_progress_keeps_a_call_alive_past_its_timeout(server: RunningServer, subscribe,
                                                            publish) -> None:
    agent = await subscribe(ACTIVATE, agent_id="1ag1")
    seen: list[Event] = []
    arrived = asyncio.Event()

    def on_progress(reply: Event) -> None:
        seen.append(reply)
        arrived.set()

    call = start_call(server, timeout=1.0, on_progress=on_progress)
    loop = asyncio.get_running_loop()
    try:
        req = await request_number(agent, 1)
        began = loop.time()
        # Keep answering "still working" until well past the 1 s timeout.
        while loop.time() - began < 2.0 * TIMEOUT_FACTOR:
            arrived.clear()
            assert (await publish(reply_body(req, transitioning="yes"))).status_code == 201
            await asyncio.wait_for(arrived.wait(), 5 * TIMEOUT_FACTOR)
            assert not call.done(), call
            await asyncio.sleep(0.2)  # the agent's heartbeat period, well inside the timeout
        assert not call.done()
        assert (await publish(reply_body(req))).status_code == 201
        reply = await asyncio.wait_for(call, 5 * TIMEOUT_FACTOR)
    finally:
        await cancel(call)
    assert reply.transitioning is None and len(seen) >= 3


async def test_an_error_reply_raises_ErrorReply(server: RunningServer, subscribe,
                                                publish) -> None:
    agent = await subscribe(ACTIVATE, agent_id="1ag1")
    call = start_call(server)
    try:
        req = await request_number(agent, 1)
        r = await publish(reply_body(req, transitioning="error",
                                     transitioningMessage="image not found",
                                     transitioningInternalMessage="404 from registry"))
        assert r.status_code == 201
        with pytest.raises(ErrorReply) as err:
            await asyncio.wait_for(call, 5 * TIMEOUT_FACTOR)
    finally:
        await cancel(call)
    assert err.value.message == "image not found"
    assert err.value.reply.transitioning_internal_message == "404 from registry"


async def test_late_duplicate_and_unknown_replies_are_accepted_and_counted(
        server: RunningServer, subscribe, publish) -> None:
    stats = server.services.bus.stats
    agent = await subscribe(ACTIVATE, agent_id="1ag1")

    # A call that times out, then its late reply.
    call = start_call(server, timeout=0.2)
    try:
        req = await request_number(agent, 1)
        with pytest.raises(CallTimeout):
            await asyncio.wait_for(call, 5 * TIMEOUT_FACTOR)
    finally:
        await cancel(call)
    before = stats.replies_unmatched
    assert (await publish(reply_body(req))).status_code == 201
    assert stats.replies_unmatched == before + 1

    # A call answered twice: the second answer is a duplicate.
    call = start_call(server)
    try:
        req = await request_number(agent, 2)
        # a reply on the right name but for another request does not end the call
        assert (await publish({"name": req["replyTo"], "previousIds": ["someone-else"]})
                ).status_code == 201
        assert stats.replies_unmatched == before + 2
        assert not call.done()
        assert (await publish(reply_body(req, data={"n": 1}))).status_code == 201
        reply = await asyncio.wait_for(call, 5 * TIMEOUT_FACTOR)
    finally:
        await cancel(call)
    assert reply.data == {"n": 1}
    assert (await publish(reply_body(req, data={"n": 2}))).status_code == 201
    assert stats.replies_unmatched == before + 3

    # A reply nobody ever asked for; one without previousIds.
    assert (await publish({"name": "reply.987654321", "previousIds": ["nope"]})).status_code == 201
    assert (await publish({"name": "reply.55"})).status_code == 201
    assert stats.replies_unmatched == before + 5

    # Nothing broke: the agent socket is still open and the next call works.
    assert not agent.ended.is_set()
    call = start_call(server)
    try:
        req = await request_number(agent, 3)
        assert (await publish(reply_body(req, data={"n": 3}))).status_code == 201
        assert (await asyncio.wait_for(call, 5 * TIMEOUT_FACTOR)).data == {"n": 3}
    finally:
        await cancel(call)
    assert server.services.bus.pending_calls == 0


async def test_a_retried_call_is_a_new_event_and_the_first_reply_is_late(
        server: RunningServer, subscribe, publish) -> None:
    stats = server.services.bus.stats
    agent = await subscribe(ACTIVATE, agent_id="1ag1")
    call = start_call(server, timeout=1.0, retries=2)
    try:
        first = await request_number(agent, 1)
        second = await request_number(agent, 2)  # the first attempt timed out
        assert second["id"] != first["id"] and second["replyTo"] != first["replyTo"]
        assert second["data"] == first["data"]
        before = stats.replies_unmatched
        assert (await publish(reply_body(first, data={"attempt": 1}))).status_code == 201
        assert stats.replies_unmatched == before + 1
        assert (await publish(reply_body(second, data={"attempt": 2}))).status_code == 201
        reply = await asyncio.wait_for(call, 5 * TIMEOUT_FACTOR)
    finally:
        await cancel(call)
    assert reply.data == {"attempt": 2}
    assert stats.call_retries >= 1
