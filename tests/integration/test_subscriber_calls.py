"""Calls answered through ``corral.subscriber``: reply, progress, error, a returned dict as
the reply, a raised exception as an error reply; with admin (``agentId``) and project keys,
async and plain-function handlers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from corral.errors import ErrorReply
from corral.protocol.event import Event
from corral.subscriber import AlreadyReplied, Backoff, ReceivedEvent, Subscriber
from tests.conftest import TIMEOUT_FACTOR, RunningServer, eventually

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

AGENT = "1ag7"  # a raw (admin) subscriber may subscribe as any agent id: §3





@contextlib.asynccontextmanager
async def running(router: Subscriber) -> AsyncIterator[Subscriber]:
    task = asyncio.create_task(router.run())
    try:
        await eventually(lambda: router.subscribed or task.done(), "subscribed")
        if task.done():
            task.result()
        yield router
    finally:
        await asyncio.wait_for(router.stop(), 30 * TIMEOUT_FACTOR)
        await asyncio.wait_for(task, 5 * TIMEOUT_FACTOR)


def agent_router(server: RunningServer, **kw: Any) -> Subscriber:
    access, secret = server.admin_auth
    return Subscriber(server.url, access, secret, agent_id=AGENT,
                      backoff=Backoff(initial=0.05, maximum=0.5), **kw)


async def call(server: RunningServer, name: str, data: dict[str, Any] | None = None,
               progress: list[Event] | None = None) -> Event:
    return await server.services.bus.call(
        Event.new(name, data=data or {}, resource_type="thing", resource_id="1t1"),
        timeout=5 * TIMEOUT_FACTOR,
        on_progress=None if progress is None else progress.append)


async def test_replies_progress_and_errors_reach_the_caller(server: RunningServer) -> None:
    router = agent_router(server)
    answered_twice: list[bool] = []

    @router.handler("job.run")
    async def run(event: ReceivedEvent) -> dict[str, Any] | None:
        assert event.is_call and event.reply_to and event.reply_to.startswith("reply.")
        mode = event.data["mode"]
        if mode == "return":
            return {"doubled": event.data["x"] * 2}
        if mode == "explicit":
            await event.progress("half way", 50)
            await event.progress("nearly", 90, data={"step": 2})
            await event.reply({"done": True})
            try:
                await event.reply({"again": True})
            except AlreadyReplied:
                answered_twice.append(True)
            return {"ignored": True}  # replied already: the return value is not sent
        if mode == "error":
            await event.error("disk full", internal_message="ENOSPC on /data")
            return None
        if mode == "none":
            return None
        raise RuntimeError("the handler blew up")

    async with running(router):
        reply = await call(server, f"job.run;agent={AGENT[3:]}", {"mode": "return", "x": 21})
        assert reply.data == {"doubled": 42} and reply.transitioning in (None, "no")
        assert reply.resource_type == "thing" and reply.resource_id == "1t1"

        progress: list[Event] = []
        reply = await call(server, "job.run;agent=7", {"mode": "explicit"}, progress)
        assert reply.data == {"done": True}
        assert [(p.transitioning_message, p.transitioning_progress) for p in progress] == [
            ("half way", 50), ("nearly", 90)]
        assert progress[1].data == {"step": 2}
        await eventually(lambda: answered_twice == [True], "the second reply refused")

        with pytest.raises(ErrorReply) as err:
            await call(server, "job.run;agent=7", {"mode": "error"})
        assert err.value.message == "disk full"
        assert err.value.reply.transitioning_internal_message == "ENOSPC on /data"

        with pytest.raises(ErrorReply) as err:
            await call(server, "job.run;agent=7", {"mode": "raise"})
        assert err.value.message == "the handler blew up"
        assert "RuntimeError" in (err.value.reply.transitioning_internal_message or "")

        reply = await call(server, "job.run;agent=7", {"mode": "none"})
        assert reply.data is None and reply.transitioning in (None, "no")
    assert router.stats.failed == 1 and router.stats.handled == 4


async def test_plain_function_handlers_answer_from_their_thread(server: RunningServer) -> None:
    router = agent_router(server, workers=3)
    threads: set[str] = set()

    @router.handler("job.sync")
    def job(event: ReceivedEvent) -> Any:
        import threading

        threads.add(threading.current_thread().name)
        if event.data.get("progress"):
            assert event.progress_sync("working", 10)
            event.reply_sync({"via": "reply_sync"})
            return None
        if event.data.get("bad"):
            return ["not", "a", "dict"]
        time.sleep(0.01)
        return {"n": event.data["n"]}

    async with running(router):
        replies = await asyncio.gather(*(call(server, "job.sync;agent=7", {"n": n})
                                         for n in range(6)))
        assert [r.data for r in replies] == [{"n": n} for n in range(6)]
        progress: list[Event] = []
        reply = await call(server, "job.sync;agent=7", {"progress": True}, progress)
        assert reply.data == {"via": "reply_sync"}
        assert [p.transitioning_message for p in progress] == ["working"]
        with pytest.raises(ErrorReply, match="not an object"):
            await call(server, "job.sync;agent=7", {"bad": True})
    assert threads and all(name.startswith("corral-subscriber") for name in threads)


async def test_a_project_key_answers_calls_made_to_its_project(
        server: RunningServer, api: httpx.AsyncClient) -> None:
    project = (await api.get("/v1/projects", params={"name": "Default"})).json()["data"][0]
    key = (await api.post(f"/v1/projects/{project['id']}/apikeys", json={"name": "svc"})).json()
    router = Subscriber(f"{server.url}/v1/projects/{project['id']}", key["publicValue"],
                        key["secretValue"], backoff=Backoff(initial=0.05, maximum=0.5))

    @router.handler("svc.hello")
    async def hello(event: ReceivedEvent) -> dict[str, Any]:
        assert event.name == "svc.hello"  # delivered with the qualifier stripped
        return {"hello": event.data["who"]}

    pid = int(project["id"].removeprefix("1a"))
    async with running(router):
        reply = await call(server, f"svc.hello;account={pid}", {"who": "corral"})
    assert reply.data == {"hello": "corral"}


async def test_events_without_reply_to_cannot_be_answered(server: RunningServer) -> None:
    router = agent_router(server)
    errors: list[BaseException] = []

    @router.handler("note")
    async def note(event: ReceivedEvent) -> dict[str, Any]:
        try:
            await event.reply({"x": 1})
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion
            errors.append(exc)
        return {"ignored": "not a call"}

    async with running(router):
        await server.services.bus.publish(Event.new("note;agent=7"))
        await eventually(lambda: errors, "the handler ran")
    assert "not a call" in str(errors[0]) and router.stats.handled == 1
