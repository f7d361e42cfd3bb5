"""The ``ping`` event: one at once on connect, then one every ``api.sub.ping.interval.millis``."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.conftest import TIMEOUT_FACTOR, RunningServer

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


async def test_the_first_event_is_a_ping_without_replyTo(server: RunningServer, subscribe,
                                                         project_key) -> None:
    pk, _ = await project_key()
    for sock in (await subscribe("resource.change"), await subscribe("x", agent_id="1ag4"),
                 await subscribe("resource.change", auth=pk)):
        first = sock.received[0]
        assert first["name"] == "ping"
        # Cattle's connect ping, plus corral's lastSeq: where the live stream starts
        data = dict(first["data"])
        last_seq = data.pop("lastSeq")
        assert data == {"options": {}, "resources": []}
        assert isinstance(last_seq, int) and 0 <= last_seq <= server.services.bus.last_seq
        assert "replyTo" not in first and "previousIds" not in first
        assert isinstance(first["id"], str) and len(first["id"]) == 36
        assert first["time"] > 0


async def test_pings_follow_the_interval_setting_at_once(server: RunningServer,
                                                         api: httpx.AsyncClient,
                                                         subscribe) -> None:
    sock = await subscribe("resource.change")
    other = await subscribe("nothing.here", agent_id="1ag9")
    assert len(sock.pings) == 1  # default interval is 5 s: no second one yet
    r = await api.put("/v1/settings/api.sub.ping.interval.millis", json={"value": "100"})
    assert r.status_code == 200, r.text
    loop = asyncio.get_running_loop()
    start = loop.time()
    await sock.wait_for(lambda s: len(s.pings) >= 6, "five more pings at 100 ms", timeout=5)
    elapsed = loop.time() - start
    # Five intervals of 100 ms: not much faster (the setting is honoured, not spammed), and
    # well under the old 5 s interval (the change took effect without a restart).
    assert elapsed >= 0.3, elapsed
    assert elapsed < 2.5 * TIMEOUT_FACTOR, elapsed
    await other.wait_for(lambda s: len(s.pings) >= 3, "pings on every socket")
    # Each ping is a new event.
    assert len({p["id"] for p in sock.pings}) == len(sock.pings)
    assert sock.events == []


async def test_a_too_small_interval_is_refused(server: RunningServer,
                                               api: httpx.AsyncClient) -> None:
    r = await api.put("/v1/settings/api.sub.ping.interval.millis", json={"value": "1"})
    assert r.status_code == 422
