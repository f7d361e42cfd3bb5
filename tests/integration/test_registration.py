"""Registration tokens and POST /v1/register: a host, an agent and its key, once."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.conftest import TIMEOUT_FACTOR, RunningServer


async def test_a_token_registers_a_host_whose_agent_key_works(server: RunningServer,
                                                             api: httpx.AsyncClient) -> None:
    project = (await api.get("/v1/projects")).json()["data"][0]
    r = await api.post(f"/v1/projects/{project['id']}/registrationtokens", json={})
    assert r.status_code == 201
    token = r.json()
    assert token["accountId"] == project["id"] and len(token["token"]) >= 24
    assert token["command"] == f"corral agent --url {server.url} --token {token['token']}"
    async with httpx.AsyncClient(base_url=server.url) as anon:
        r = await anon.post("/v1/register", json={"token": token["token"], "hostname": "node-1"})
        assert r.status_code == 201, r.text
        reg = r.json()
        assert reg["projectId"] == project["id"] and len(reg["secretKey"]) == 40
    deadline = time.monotonic() + 10 * TIMEOUT_FACTOR
    while True:
        host = (await api.get(f"/v1/hosts/{reg['hostId']}")).json()
        if host["state"] == "active" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert host["state"] == "active" and host["hostname"] == "node-1"
    assert host["agentId"] == reg["agentId"]
    async with server.client((reg["accessKey"], reg["secretKey"])) as agent:
        hosts = (await agent.get("/v1/hosts")).json()["data"]
        assert [h["id"] for h in hosts] == [reg["hostId"]]


async def test_a_revoked_or_unknown_token_registers_nothing(server: RunningServer,
                                                           api: httpx.AsyncClient) -> None:
    token = (await api.post("/v1/registrationtokens", json={})).json()
    await api.post(f"/v1/registrationtokens/{token['id']}", params={"action": "deactivate"})
    async with httpx.AsyncClient(base_url=server.url) as anon:
        for value in (token["token"], "made-up"):
            r = await anon.post("/v1/register", json={"token": value, "hostname": "x"})
            assert r.status_code == 401 and r.json()["fieldName"] == "token"
        r = await anon.post("/v1/register", json={"token": token["token"]})
        assert r.status_code == 422 and r.json()["fieldName"] == "hostname"
    assert (await api.get("/v1/hosts")).json()["data"] == []
