"""``corral.client`` against a real server in this test's event loop."""

from __future__ import annotations

import asyncio

import pytest
from tests.conftest import RunningServer

from corral.client import ApiError, AsyncClient, Client


def client(server: RunningServer, url: str | None = None) -> AsyncClient:
    return AsyncClient(url or server.url, *server.admin_auth)


async def test_list_pages_through_a_real_collection(server: RunningServer) -> None:
    async with client(server) as c:
        made = [await c.create("apikeys", name=f"k{i}") for i in range(4)]
        everything = await c.list("apikeys", limit=1)
        mine = await c.list("apikeys", name_prefix="k", limit=3)
    ids = [k["id"] for k in made]
    assert set(ids) <= {k["id"] for k in everything}
    assert [k["id"] for k in mine] == ids
    assert all(k["secretValue"] for k in made)


async def test_settings_helpers_read_and_change_a_live_setting(server: RunningServer) -> None:
    async with client(server, f"{server.url}/v1") as c:
        before = await c.settings()
        assert before["api.sub.ping.interval.millis"] == "5000"
        changed = await c.set_setting("api.sub.ping.interval.millis", 2500)
        assert changed["value"] == "2500" and changed["source"] == "Database"
        assert await c.get_setting("api.sub.ping.interval.millis") == "2500"
    assert server.services.settings.get("api.sub.ping.interval.millis") == "2500"


async def test_the_servers_errors_arrive_as_api_errors(server: RunningServer) -> None:
    async with client(server) as c:
        with pytest.raises(ApiError) as missing:
            await c.get("instances", "1i999")
        with pytest.raises(ApiError) as invalid:
            await c.update("settings", "api.sub.ping.interval.millis", value="soon")
        with pytest.raises(ApiError) as action:
            await c.action("apikeys", "1c1", "activate")
    assert (missing.value.status, missing.value.code) == (404, "NotFound")
    assert not missing.value.wrong_url
    assert (invalid.value.status, invalid.value.field_name) == (422, "value")
    assert action.value.status in (404, 422)
    async with AsyncClient(server.url, server.admin_auth[0], "wrong-secret") as c:
        with pytest.raises(ApiError) as bad_key:
            await c.root()
    assert bad_key.value.status == 401 and "bad access/secret key" in str(bad_key.value)
    async with client(server, f"{server.url}/nope") as c:
        with pytest.raises(ApiError) as wrong:
            await c.list("hosts")
    assert wrong.value.wrong_url and f"{server.url}/nope/v1/hosts" in str(wrong.value)


async def test_the_blocking_client_works_from_a_worker_thread(server: RunningServer) -> None:
    def work() -> tuple[str, list[str]]:
        with Client(server.url, *server.admin_auth) as c:
            root = c.root()
            key = c.create("apikeys", name="threaded")
            removed = c.delete("apikeys", key["id"])
            return root["type"], [key["state"], removed["state"]]

    kind, states = await asyncio.to_thread(work)
    assert kind == "apiVersion" and states == ["active", "removed"]
