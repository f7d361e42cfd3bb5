"""The connect ping tells a new subscriber where the live stream starts (``lastSeq``)."""

from __future__ import annotations

import asyncio

import aiohttp
import httpx
import sqlalchemy as sa

from corral.store import tables
from tests.conftest import RunningServer
from tests.scripted_agent import basic


async def test_connect_ping_carries_the_last_seq_and_later_events_follow_it(
        server: RunningServer, api: httpx.AsyncClient) -> None:
    await api.post("/v1/apikeys", json={"name": "before"})
    async with aiohttp.ClientSession(headers={"Authorization": basic(*server.admin_auth)}) as s:
        # wait until the change of "before" is in the log, then connect
        async def logged() -> int:
            row = await server.services.store.fetch_one(sa.select(sa.func.max(tables.event.c.seq)))
            return int(row[0] or 0)
        for _ in range(500):  # the change is written just after the create answers
            if await logged():
                break
            await asyncio.sleep(0.01)
        before = await logged()
        assert before > 0
        ws = await s.ws_connect(f"{server.url}/v1/subscribe?eventNames=resource.change")
        ping = await ws.receive_json(timeout=5)
        assert ping["name"] == "ping" and ping["data"]["lastSeq"] == before
        key = (await api.post("/v1/apikeys", json={"name": "after"})).json()
        change = await ws.receive_json(timeout=5)
        assert change["resourceId"] == key["id"] and change["seq"] == before + 1
        await ws.close()
        # resuming from lastSeq replays exactly what came after it
        ws = await s.ws_connect(
            f"{server.url}/v1/subscribe?eventNames=resource.change&since={before}")
        names = []
        for _ in range(2):
            event = await ws.receive_json(timeout=5)
            names.append((event["name"], event.get("seq")))
        assert ("resource.change", before + 1) in names
        await ws.close()
