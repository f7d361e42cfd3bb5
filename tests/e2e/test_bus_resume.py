"""Resume with ``since`` (§7) against the real server and store, on SQLite and PostgreSQL.

The truth is the ``event`` table: every persisted ``resource.change`` has a row whose
``seq`` the subscriber sees. A subscriber that disconnects and comes back with
``since=<last seq seen>`` must end up with every seq exactly once, in order.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from typing import Any

import httpx
import sqlalchemy as sa
from tests.conftest import TIMEOUT_FACTOR, RunningServer

from corral.protocol.event import Event
from corral.store import tables

_event = tables.event


async def logged_seqs(server: RunningServer, name: str, after: int) -> list[int]:
    rows = await server.services.store.fetch_all(
        sa.select(_event.c.seq).where(_event.c.name == name, _event.c.seq > after)
        .order_by(_event.c.seq))
    return [int(r.seq) for r in rows]


async def last_seq(server: RunningServer) -> int:
    row = await server.services.store.fetch_one(sa.select(sa.func.max(_event.c.seq)))
    return 0 if row is None or row[0] is None else int(row[0])


async def settle(server: RunningServer) -> None:
    """Send the coalesced resource.change events still pending (at most 1 s away)."""
    await server.server.changes.flush_all()


async def churn(api: httpx.AsyncClient, count: int, progress: list[int]) -> None:
    """``count`` changes: project creates, and updates of the projects just made."""
    made: list[str] = []
    for i in range(count):
        if i % 3 == 2:
            r = await api.put(f"/v1/projects/{made[-1]}", json={"description": f"update {i}"})
            assert r.status_code == 200, r.text
        else:
            r = await api.post("/v1/projects", json={"name": f"churn-{i}"})
            assert r.status_code == 201, r.text
            made.append(r.json()["id"])
        progress[0] = i + 1


async def test_a_resumed_subscriber_gets_every_seq_exactly_once_in_order(
        server: RunningServer, api: httpx.AsyncClient, subscribe) -> None:
    start = await last_seq(server)
    steady = await subscribe("resource.change", label="never disconnects")
    first = await subscribe("resource.change", label="before the disconnect")
    progress = [0]
    task = asyncio.get_running_loop().create_task(churn(api, 300, progress))
    try:
        await first.wait_for(lambda s: len(s.seqs()) >= 30, "30 changes")
        await first.close()
        seen_before = first.seqs()
        # Changes go on while it is away...
        await steady.wait_for(lambda s: len(s.seqs()) >= len(seen_before) + 60,
                              "60 changes made while disconnected", timeout=30)
        # ...and while it resumes.
        resumed = await subscribe("resource.change", since=seen_before[-1], label="resumed")
        assert progress[0] < 300, "the churn should still be running during the resume"
        await asyncio.wait_for(task, 120)
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await settle(server)
    expected = await logged_seqs(server, "resource.change", start)
    assert len(expected) >= 200
    for sock in (steady, resumed):
        await sock.wait_for(lambda s: bool(s.seqs()) and s.seqs()[-1] == expected[-1],
                            f"seq {expected[-1]}", timeout=30)
    assert steady.seqs() == expected
    combined = seen_before + resumed.seqs()
    assert combined == expected, (
        f"missing {sorted(set(expected) - set(combined))[:10]}, "
        f"duplicated {sorted(s for s in set(combined) if combined.count(s) > 1)[:10]}")
    # The replayed events are whole events, not just seqs.
    for e in resumed.named("resource.change"):
        assert e["resourceType"] == "project" and e["data"]["resource"]["id"] == e["resourceId"]
    assert resumed.received[0]["name"] == "ping"
    assert not resumed.ended.is_set()


async def test_a_project_key_resumes_only_its_own_projects_changes(
        server: RunningServer, api: httpx.AsyncClient, subscribe, project_key) -> None:
    pk, project = await project_key()
    pid = int(project["id"].removeprefix("1a"))
    other = (await api.post("/v1/projects", json={"name": "other"})).json()
    start = await last_seq(server)
    first = await subscribe("resource.change", auth=pk)
    mine = [(await api.post(f"/v1/projects/{project['id']}/apikeys", json={"name": "k0"})).json()]
    await first.wait_for(lambda s: len(s.seqs()) == 1, "the first change")
    await first.close()
    for i in range(1, 4):
        mine.append((await api.post(f"/v1/projects/{project['id']}/apikeys",
                                    json={"name": f"k{i}"})).json())
        await api.post(f"/v1/projects/{other['id']}/apikeys", json={"name": f"o{i}"})
    await settle(server)
    resumed = await subscribe("resource.change", auth=pk, since=first.seqs()[-1])
    expected = await logged_seqs(server, f"resource.change;account={pid}", start)
    assert len(expected) == 4
    await resumed.wait_for(lambda s: len(s.seqs()) == 3, "the three missed changes")
    assert first.seqs() + resumed.seqs() == expected
    assert [e["resourceId"] for e in first.events + resumed.events] == [k["id"] for k in mine]
    assert all(e["name"] == "resource.change" for e in resumed.events)


async def test_since_older_than_the_oldest_kept_event_asks_for_a_resync(
        server: RunningServer, api: httpx.AsyncClient, subscribe) -> None:
    start = await last_seq(server)
    for i in range(6):
        assert (await api.post("/v1/projects", json={"name": f"p{i}"})).status_code == 201
    await settle(server)
    seqs = await logged_seqs(server, "resource.change", start)
    assert len(seqs) == 6
    horizon = seqs[3]
    async with server.services.store.tx() as conn:  # as the purge would
        await conn.execute(sa.delete(_event).where(_event.c.seq < horizon))

    gone = await subscribe("resource.change", since=seqs[0])
    await gone.wait_closed()
    assert [e["name"] for e in gone.received] == ["ping", "resync.required"]
    notice = gone.received[1]
    assert notice["data"]["since"] == seqs[0] and notice["data"]["oldest"] == horizon
    assert gone.close_code == 4010
    assert "resync" in gone.close_reason

    # since just before the horizon is still whole: everything kept is replayed.
    ok = await subscribe("resource.change", since=horizon - 1)
    await ok.wait_for(lambda s: len(s.seqs()) == 3, "the kept changes")
    assert ok.seqs() == seqs[3:]
    assert not ok.ended.is_set()


async def test_since_ahead_of_the_stream_asks_for_a_resync(server: RunningServer,
                                                           subscribe) -> None:
    ahead = await last_seq(server) + 1000
    sock = await subscribe("resource.change", since=ahead)
    await sock.wait_closed()
    assert [e["name"] for e in sock.received] == ["ping", "resync.required"]
    assert sock.close_code == 4010


async def test_resume_sees_changes_of_every_resource_kind_it_may_see(
        server: RunningServer, api: httpx.AsyncClient, subscribe) -> None:
    start = await last_seq(server)
    sock = await subscribe("resource.change")
    key = (await api.post("/v1/apikeys", json={"name": "k"})).json()
    proj = (await api.post("/v1/projects", json={"name": "p"})).json()
    await settle(server)
    await sock.wait_for(lambda s: len(s.seqs()) == 2, "two changes")
    await sock.close()
    again = await subscribe("resource.change", since=start)
    await again.wait_for(lambda s: len(s.seqs()) == 2, "the same two changes replayed")
    got: list[tuple[Any, Any]] = [(e["resourceType"], e["resourceId"]) for e in again.events]
    assert got == [("apikey", key["id"]), ("project", proj["id"])]
    assert again.seqs() == sock.seqs()


async def raw_upgrade(server: RunningServer, query: str) -> tuple[Any, Any]:
    """A bare WebSocket handshake over a socket with a tiny receive buffer, never read."""
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise
    token = base64.b64encode(":".join(server.admin_auth).encode()).decode()
    writer.write((
        f"GET /v1/subscribe?{query} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
        f"Authorization: Basic {token}\r\n\r\n").encode())
    status = await asyncio.wait_for(reader.readline(), 5 * TIMEOUT_FACTOR)
    assert status.startswith(b"HTTP/1.1 101"), status
    return reader, writer


async def test_a_client_that_vanishes_during_a_long_replay_is_released(
        server: RunningServer, api: httpx.AsyncClient) -> None:
    """The replay waits for the socket to drain; if the socket dies, it must stop waiting."""
    assert (await api.put("/v1/settings/api.sub.queue.max.events", json={"value": "4"})
            ).status_code == 200
    # No ping may come to the rescue (a ping into the full queue would end it as a slow
    # consumer): the dead socket itself must end the replay.
    assert (await api.put("/v1/settings/api.sub.ping.interval.millis", json={"value": "600000"})
            ).status_code == 200
    services = server.services
    stats = services.bus.stats
    slow_before = stats.dropped_slow_consumers
    start = await last_seq(server)
    pad = "x" * 65_536
    # 8 MiB of kept events: far more than the socket buffers hold.
    await services.bus.publish_persistent_many(
        [Event.new("resource.change", data={"i": i, "pad": pad}) for i in range(128)])
    sinks_before = len(services.pinger.sinks)
    subs_before = services.bus.subscriptions
    _, writer = await raw_upgrade(server, f"eventNames=resource.change&since={start}")
    try:
        # The replay is under way and stuck on the unread socket.
        await wait_until(lambda: len(services.pinger.sinks) == sinks_before + 1,
                         "the socket to be registered")
    finally:
        writer.transport.abort()  # the client vanishes (RST)
    await wait_until(lambda: len(services.pinger.sinks) == sinks_before
                     and services.bus.subscriptions == subs_before,
                     "the server to release the dead socket and its subscription")
    assert stats.dropped_slow_consumers == slow_before  # it was gone, not slow


async def wait_until(predicate: Any, what: str, timeout: float = 10.0) -> None:
    """Poll server-side state (which has no event to await) until ``predicate()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout * TIMEOUT_FACTOR
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
