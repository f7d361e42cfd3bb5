"""``corral.subscriber`` against the real server in process: handlers get events, per-resource
order under a pool of workers, backpressure without loss (also through a 4008 drop),
resume without gaps or duplicates (reconnect, state file), resync, healthcheck."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from corral.protocol.event import Event
from corral.subscriber import Backoff, ReceivedEvent, Subscriber
from tests.conftest import TIMEOUT_FACTOR, RunningServer, eventually

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)





def make(server: RunningServer, **kw: Any) -> Subscriber:
    access, secret = kw.pop("auth", server.admin_auth)
    url = kw.pop("url", server.url)
    kw.setdefault("backoff", Backoff(initial=0.05, maximum=0.5))
    return Subscriber(url, access, secret, **kw)


@contextlib.asynccontextmanager
async def running(router: Subscriber, *, wait: bool = True) -> AsyncIterator[asyncio.Task[None]]:
    """``router.run()`` as a task, subscribed before the body; stopped (and checked) after."""
    task = asyncio.create_task(router.run())
    try:
        if wait:
            await eventually(lambda: router.subscribed or task.done(), "subscribed")
            if task.done():
                task.result()
        yield task
    finally:
        await asyncio.wait_for(router.stop(), 30 * TIMEOUT_FACTOR)
        await asyncio.wait_for(task, 5 * TIMEOUT_FACTOR)


async def publish_persistent(server: RunningServer, events: list[Event]) -> list[int]:
    return await server.services.bus.publish_persistent_many(events)


def thing(name: str, key: int, n: int, **data: Any) -> Event:
    return Event.new(name, resource_type="thing", resource_id=f"1t{key}", data={"n": n, **data})


@pytest.mark.parametrize("auth_kind", ["admin", "project"])
async def test_a_handler_gets_each_resource_change_with_its_payload(
        server: RunningServer, api: httpx.AsyncClient, auth_kind: str) -> None:
    auth = server.admin_auth
    project = (await api.get("/v1/projects", params={"name": "Default"})).json()["data"][0]
    if auth_kind == "project":
        key = (await api.post(f"/v1/projects/{project['id']}/apikeys", json={"name": "s"})).json()
        auth = (key["publicValue"], key["secretValue"])
    router = make(server, auth=auth, url=f"{server.url}/v1")
    got: list[ReceivedEvent] = []

    @router.handler("resource.change")
    async def changed(event: ReceivedEvent) -> None:
        got.append(event)

    async with running(router):
        made = [(await api.post(f"/v1/projects/{project['id']}/apikeys",
                                json={"name": f"k{i}"})).json() for i in range(3)]
        ids = {k["id"] for k in made}
        await eventually(lambda: ids <= {e.resource_id for e in got}, "the three changes")
    mine = [e for e in got if e.resource_id in ids]
    for event in mine:
        assert event.name == "resource.change" and event.resource_type == "apikey"
        assert event.resource == event.data["resource"]
        assert event.resource["id"] == event.resource_id and event.resource["name"].startswith("k")
        assert event.seq is not None and not event.is_call
    seqs = [e.seq for e in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert router.position == seqs[-1]


@sqlite_only
async def test_events_of_one_resource_run_in_order_and_never_at_once(
        server: RunningServer) -> None:
    router = make(server, workers=8, queue_size=20)
    active: dict[str, int] = {}
    seen: dict[str, list[int]] = {}
    overlap: list[str] = []
    parallel = [0, 0]  # now, max

    @router.handler("test.order")
    async def handle(event: ReceivedEvent) -> None:
        key = event.resource_id or ""
        if active.get(key):
            overlap.append(key)
        active[key] = 1
        parallel[0] += 1
        parallel[1] = max(parallel)
        await asyncio.sleep(random.uniform(0, 0.004))
        seen.setdefault(key, []).append(event.data["n"])
        parallel[0] -= 1
        active[key] = 0

    keys, per_key = 12, 25
    async with running(router):
        events = [thing("test.order", k, n) for n in range(per_key) for k in range(keys)]
        for i in range(0, len(events), 30):
            await publish_persistent(server, events[i:i + 30])
        await eventually(lambda: sum(map(len, seen.values())) == keys * per_key,
                         "every event handled", timeout=30)
    assert not overlap
    assert all(seen[f"1t{k}"] == list(range(per_key)) for k in range(keys))
    assert parallel[1] > 1, "different resources should run in parallel"
    assert router.stats.handled == keys * per_key and router.stats.failed == 0


@sqlite_only
async def test_a_slow_handler_with_a_small_queue_loses_nothing(server: RunningServer) -> None:
    router = make(server, workers=2, queue_size=3)
    got: list[int] = []
    depth = [0]

    @router.handler("test.slow")
    def slow(event: ReceivedEvent) -> None:  # a plain function: runs in a worker thread
        depth[0] = max(depth[0], router.status()["queued"])
        time.sleep(0.002)
        got.append(event.data["n"])

    count = 300
    async with running(router):
        for i in range(0, count, 50):
            await publish_persistent(server, [Event.new("test.slow", data={"n": n})
                                              for n in range(i, i + 50)])
        await eventually(lambda: len(got) == count, f"{count} events", timeout=30)
    assert sorted(got) == list(range(count))
    assert depth[0] <= 3, "the queue never holds more than queue_size"
    assert router.stats.duplicates == 0


@sqlite_only
async def test_dropped_as_a_slow_consumer_it_resumes_and_gets_everything_once(
        server: RunningServer, api: httpx.AsyncClient) -> None:
    r = await api.put("/v1/settings/api.sub.queue.max.events", json={"value": "4"})
    assert r.status_code == 200, r.text
    dropped = server.services.bus.stats.dropped_slow_consumers
    router = make(server, workers=1, queue_size=2)
    got: list[int] = []

    @router.handler("test.burst")
    async def handle(event: ReceivedEvent) -> None:
        await asyncio.sleep(0.001)
        got.append(event.data["n"])

    batches, size = 8, 25
    async with running(router):
        # One event handled first: a subscriber that has never seen a seq has no position
        # to resume from (the server tells a fresh connection nothing about the stream).
        await publish_persistent(server, [thing("test.burst", 0, -3)])
        await eventually(lambda: got == [-3], "the first event")
        got.clear()
        for b in range(batches):  # each batch is routed at once: more than 4 overflow
            await publish_persistent(server, [thing("test.burst", n % 3, n) for n in
                                              range(b * size, (b + 1) * size)])
        await eventually(lambda: len(got) == batches * size, "every event", timeout=60)
    assert server.services.bus.stats.dropped_slow_consumers > dropped
    assert router.status()["connections"] > 1
    assert sorted(got) == list(range(batches * size)) and len(set(got)) == len(got)
    for k in range(3):  # per resource, still in order
        mine = [n for n in got if n % 3 == k]
        assert mine == sorted(mine)


async def test_a_dropped_connection_resumes_without_gaps_or_duplicates(
        server: RunningServer) -> None:
    router = make(server, workers=1, backoff=Backoff(initial=0.3, maximum=0.3))
    release = asyncio.Event()
    got: list[int] = []

    @router.handler("test.resume")
    async def handle(event: ReceivedEvent) -> None:
        await release.wait()
        got.append(event.data["n"])

    async with running(router):
        first = await publish_persistent(server, [thing("test.resume", 1, n) for n in range(10)])
        await eventually(lambda: router.status()["queued"] + router.status()["running"] == 10,
                         "ten events read, none handled")
        assert router.position == first[0] - 1
        stream = router._stream
        assert stream is not None
        await stream.close()  # the connection drops with ten events unfinished
        await eventually(lambda: not router.subscribed, "unsubscribed")
        # While away: more events, which the resume must bring.
        await publish_persistent(server, [thing("test.resume", 1, n) for n in range(10, 20)])
        await eventually(lambda: router.subscribed, "subscribed again")
        # The replay started after the position: the ten unfinished ones came again.
        await eventually(lambda: router.stats.duplicates == 10, "ten duplicates skipped")
        release.set()
        await publish_persistent(server, [thing("test.resume", 1, n) for n in range(20, 25)])
        await eventually(lambda: len(got) == 25, "every event", timeout=20)
    assert got == list(range(25))
    assert router.status()["connections"] == 2


async def test_a_restarted_subscriber_resumes_from_its_state_file(
        server: RunningServer, tmp_path: Path) -> None:
    state = tmp_path / "sub" / "state.json"
    got: list[int] = []

    def build() -> Subscriber:
        router = make(server, state_file=state)

        @router.handler("test.state")
        async def handle(event: ReceivedEvent) -> None:
            got.append(event.data["n"])
        return router

    router = build()
    async with running(router):
        seqs = await publish_persistent(server, [Event.new("test.state", data={"n": n})
                                                 for n in range(5)])
        await eventually(lambda: len(got) == 5, "five events")
    assert json.loads(state.read_text())["seq"] == seqs[-1]
    # Down: events go on.
    await publish_persistent(server, [Event.new("test.state", data={"n": n}) for n in range(5, 9)])
    again = build()
    async with running(again):
        await publish_persistent(server, [Event.new("test.state", data={"n": 9})])
        await eventually(lambda: len(got) == 10, "the missed ones and the new one")
    assert got == list(range(10))
    assert again.stats.duplicates == 0


async def test_a_position_the_server_cannot_resume_calls_on_resync_then_goes_live(
        server: RunningServer, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"seq": 10**12, "done": []}))  # ahead of this server
    resyncs: list[ReceivedEvent] = []
    got: list[int] = []
    router = make(server, state_file=state)

    async def relist(event: ReceivedEvent) -> None:
        await asyncio.sleep(0.05)
        resyncs.append(event)

    router.on_resync = relist

    @router.handler("test.live")
    async def handle(event: ReceivedEvent) -> None:
        assert resyncs, "events wait until on_resync has re-listed"
        got.append(event.data["n"])

    async with running(router):
        await eventually(lambda: router.stats.resyncs == 1 and router.subscribed, "resynced")
        seqs = await publish_persistent(server, [Event.new("test.live", data={"n": 1})])
        await eventually(lambda: got == [1], "a live event after the resync")
    assert resyncs[0].name == "resync.required" and resyncs[0].data["since"] == 10**12
    assert json.loads(state.read_text())["seq"] == seqs[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def health(port: int) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as s, \
            s.get(f"http://127.0.0.1:{port}/healthcheck") as r:
        return r.status, await r.json()


@sqlite_only
async def test_the_healthcheck_is_200_while_subscribed_and_503_otherwise(
        server: RunningServer) -> None:
    router = make(server, healthcheck_port=0, healthcheck_host="127.0.0.1",
                  backoff=Backoff(initial=2.0, maximum=2.0))
    router.add_handler("test.health", lambda e: None)
    async with running(router):
        port = router.healthcheck_port
        assert port
        status, body = await health(port)
        assert status == 200 and body["subscribed"] is True and body["connections"] == 1
        assert router._stream is not None
        await router._stream.close()  # the next attempt is 1-2 s away
        await eventually(lambda: not router.subscribed, "unsubscribed")
        status, body = await health(port)
        assert status == 503 and body["subscribed"] is False
        await eventually(lambda: router.subscribed, "subscribed again")
        assert (await health(port))[0] == 200

    # A server that is not there: 503, and the attempts are counted.
    nowhere = Subscriber(f"http://127.0.0.1:{free_port()}", "k", "s", healthcheck_port=0,
                         healthcheck_host="127.0.0.1", backoff=Backoff(initial=0.05, maximum=0.1))
    nowhere.add_handler("x", lambda e: None)
    async with running(nowhere, wait=False):
        await eventually(lambda: nowhere.healthcheck_port, "the healthcheck listening")
        await eventually(lambda: nowhere.status()["failures"] >= 2, "two failed attempts")
        status, body = await health(nowhere.healthcheck_port or 0)
        assert status == 503 and body["failures"] >= 2


@sqlite_only
async def test_stop_finishes_the_events_already_read(server: RunningServer) -> None:
    router = make(server, workers=2, queue_size=50)
    done: list[int] = []

    @router.handler("test.stop")
    async def handle(event: ReceivedEvent) -> None:
        await asyncio.sleep(0.01)
        done.append(event.data["n"])

    task = asyncio.create_task(router.run())
    await eventually(lambda: router.subscribed, "subscribed")
    seqs = await publish_persistent(server, [thing("test.stop", n % 2, n) for n in range(40)])
    await eventually(lambda: router.stats.received == 40, "all read")
    await router.stop()
    await task
    assert sorted(done) == list(range(40))
    assert router.position == seqs[-1] and not router.subscribed


async def test_configuration_comes_from_the_cattle_variables(
        server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATTLE_URL", f"{server.url}/v1/")
    monkeypatch.setenv("CATTLE_ACCESS_KEY", server.admin_auth[0])
    monkeypatch.setenv("CATTLE_SECRET_KEY", server.admin_auth[1])
    router = Subscriber(backoff=Backoff(initial=0.05, maximum=0.2))
    assert str(router.endpoint.api) == f"{server.url}/v1"
    assert server.admin_auth[1] not in repr(router.endpoint)
    got: list[str] = []
    router.add_handler("test.env", lambda e: got.append(e.id))
    async with running(router):
        await server.services.bus.publish(Event.new("test.env"))
        await eventually(lambda: len(got) == 1, "the event")



async def test_an_event_unfinished_at_shutdown_comes_again_and_only_it(
        server: RunningServer, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first: list[int] = []
    stuck = asyncio.Event()

    router = make(server, workers=4, state_file=state, shutdown_timeout=0.3)

    @router.handler("test.stuck")
    async def handle(event: ReceivedEvent) -> None:
        if event.data["n"] == 3:
            stuck.set()
            await asyncio.Event().wait()  # never returns: cancelled at shutdown
        first.append(event.data["n"])

    async with running(router):
        seqs = await publish_persistent(server, [thing("test.stuck", n, n) for n in range(8)])
        await eventually(lambda: stuck.is_set() and len(first) == 7, "all but one handled")
    saved = json.loads(state.read_text())
    assert saved["seq"] == seqs[2] and saved["done"] == seqs[4:]

    again: list[int] = []
    second = make(server, state_file=state)
    second.add_handler("test.stuck", lambda e: again.append(e.data["n"]))
    async with running(second):
        await eventually(lambda: again == [3], "the unfinished event, once")
        await publish_persistent(server, [thing("test.stuck", 9, 9)])
        await eventually(lambda: again == [3, 9], "then the live ones")
    assert second.stats.duplicates == 4 and second.position == seqs[-1] + 1
