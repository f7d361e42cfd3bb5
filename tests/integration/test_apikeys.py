"""API keys: creation, secrets shown once and stored hashed, states, scope, auth cache."""

from __future__ import annotations

import asyncio
import re

import httpx
import sqlalchemy as sa

from corral.store import tables
from tests.conftest import RunningServer


async def _default_project(api: httpx.AsyncClient) -> dict:
    return (await api.get("/v1/projects", params={"name": "Default"})).json()["data"][0]


async def test_create_returns_access_and_secret_once_and_stores_only_a_hash(
        server: RunningServer, api: httpx.AsyncClient) -> None:
    r = await api.post("/v1/apikeys", json={"name": "ci", "description": "for CI"})
    assert r.status_code == 201
    key = r.json()
    assert re.fullmatch(r"[0-9A-F]{20}", key["publicValue"])
    assert len(key["secretValue"]) == 40
    assert key["state"] == "active" and key["type"] == "apikey"
    again = (await api.get(f"/v1/apikeys/{key['id']}")).json()
    assert again["secretValue"] is None and again["publicValue"] == key["publicValue"]
    listed = (await api.get("/v1/apikeys", params={"name": "ci"})).json()["data"]
    assert [k["secretValue"] for k in listed] == [None]
    c = tables.credential
    row = await server.services.store.fetch_one(
        sa.select(c.c.secret_value).where(c.c.public_value == key["publicValue"]))
    assert row.secret_value.startswith("pbkdf2_sha256$")
    assert key["secretValue"] not in row.secret_value


async def test_a_new_key_works_and_deactivating_or_removing_it_locks_it_out_at_once(
        server: RunningServer, api: httpx.AsyncClient) -> None:
    key = (await api.post("/v1/apikeys", json={"name": "temp"})).json()
    auth = (key["publicValue"], key["secretValue"])
    async with server.client(auth) as mine:
        assert (await mine.get("/v1/apikeys")).status_code == 200
        r = await api.post(f"/v1/apikeys/{key['id']}", params={"action": "deactivate"})
        assert r.status_code == 200 and r.json()["state"] == "inactive"
        assert set(r.json()["actions"]) == {"activate", "remove"}
        assert (await mine.get("/v1/apikeys")).status_code == 401
        r = await api.post(f"/v1/apikeys/{key['id']}", params={"action": "activate"})
        assert r.json()["state"] == "active"
        assert (await mine.get("/v1/apikeys")).status_code == 200
        r = await api.delete(f"/v1/apikeys/{key['id']}")
        assert r.status_code == 200 and r.json()["state"] == "removed"
        assert r.json()["removed"] is not None
        assert (await mine.get("/v1/apikeys")).status_code == 401


async def test_actions_not_valid_in_the_current_state_are_refused(
        api: httpx.AsyncClient) -> None:
    key = (await api.post("/v1/apikeys", json={"name": "x"})).json()
    assert "activate" not in key["actions"]
    r = await api.post(f"/v1/apikeys/{key['id']}", params={"action": "activate"})
    assert r.status_code == 422 and r.json()["code"] == "ActionNotAvailable"
    r = await api.post(f"/v1/apikeys/{key['id']}", params={"action": "explode"})
    assert r.status_code == 404 and r.json()["code"] == "ActionNotAvailable"


async def test_a_verified_key_is_not_hashed_again_on_every_request(
        server: RunningServer, api: httpx.AsyncClient) -> None:
    key = (await api.post("/v1/apikeys", json={"name": "busy"})).json()
    auth = server.services.auth
    before = auth.hash_checks
    async with server.client((key["publicValue"], key["secretValue"])) as mine:
        for _ in range(20):
            assert (await mine.get("/v1")).status_code == 200
        # a wrong secret for a cached key is still refused (and checked)
        r = await mine.get("/v1", auth=(key["publicValue"], "x" * 40))
        assert r.status_code == 401
    assert auth.hash_checks - before == 2


async def test_requests_arriving_together_with_a_new_key_share_one_check(
        server: RunningServer, api: httpx.AsyncClient) -> None:
    key = (await api.post("/v1/apikeys", json={"name": "burst"})).json()
    auth = server.services.auth
    before = auth.hash_checks
    async with server.client((key["publicValue"], key["secretValue"]),
                             limits=httpx.Limits(max_connections=32)) as mine:
        answers = await asyncio.gather(*(mine.get("/v1") for _ in range(30)))
        assert [r.status_code for r in answers] == [200] * 30
        wrong = await asyncio.gather(*(mine.get("/v1", auth=(key["publicValue"], "y" * 40))
                                       for _ in range(10)))
        assert [r.status_code for r in wrong] == [401] * 10
    assert auth.hash_checks - before == 2  # one for the thirty, one for the ten


async def test_a_project_key_sees_only_its_project(server: RunningServer,
                                                   api: httpx.AsyncClient) -> None:
    default = await _default_project(api)
    other = (await api.post("/v1/projects", json={"name": "other"})).json()
    r = await api.post(f"/v1/projects/{default['id']}/apikeys", json={"name": "pk"})
    assert r.status_code == 201
    pk = r.json()
    assert pk["accountId"] == default["id"]
    assert pk["links"]["self"].endswith(f"/v1/projects/{default['id']}/apikeys/{pk['id']}")
    await api.post(f"/v1/projects/{other['id']}/apikeys", json={"name": "ok"})
    async with server.client((pk["publicValue"], pk["secretValue"])) as mine:
        names = {k["name"] for k in (await mine.get("/v1/apikeys")).json()["data"]}
        assert names == {"pk"}
        projects = (await mine.get("/v1/projects")).json()["data"]
        assert [p["id"] for p in projects] == [default["id"]]
        scoped = await mine.get(f"/v1/projects/{default['id']}/apikeys")
        assert {k["name"] for k in scoped.json()["data"]} == {"pk"}
        r = await mine.get(f"/v1/projects/{other['id']}/apikeys")
        assert r.status_code == 404 and r.json()["type"] == "error"
        r = await mine.post("/v1/projects", json={"name": "mine"})
        assert r.status_code == 403 and r.json()["code"] == "Forbidden"
        r = await mine.get("/v1/accounts")
        assert r.status_code == 404
        created = (await mine.post("/v1/apikeys", json={"name": "pk2"})).json()
        assert created["accountId"] == default["id"]
    admin_view = (await api.get("/v1/apikeys")).json()["data"]
    assert {"pk", "ok", "pk2"} <= {k["name"] for k in admin_view}
    scoped = (await api.get(f"/v1/projects/{other['id']}/apikeys")).json()["data"]
    assert {k["name"] for k in scoped} == {"ok"}


async def test_only_admins_create_keys_for_other_accounts(server: RunningServer,
                                                          api: httpx.AsyncClient) -> None:
    default = await _default_project(api)
    pk = (await api.post(f"/v1/projects/{default['id']}/apikeys", json={})).json()
    other = (await api.post("/v1/projects", json={"name": "victim"})).json()
    async with server.client((pk["publicValue"], pk["secretValue"])) as mine:
        r = await mine.post("/v1/apikeys", json={"accountId": other["id"]})
        assert r.status_code in (403, 422)
        assert r.json()["fieldName"] == "accountId"
    r = await api.post("/v1/apikeys", json={"accountId": other["id"]})
    assert r.status_code == 201 and r.json()["accountId"] == other["id"]
