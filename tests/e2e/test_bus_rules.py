"""What the subscribe and publish endpoints refuse, and how (§3): HTTP errors before upgrade."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from tests.conftest import RunningServer

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode()}


async def refused_upgrade(api: httpx.AsyncClient, params: list[tuple[str, str]],
                          **kw: Any) -> httpx.Response:
    """The JSON error a WebSocket client gets instead of an upgrade."""
    r = await api.get("/v1/subscribe", params=params, headers=UPGRADE, **kw)
    assert r.status_code >= 400, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["type"] == "error" and r.json()["status"] == r.status_code
    return r


# ------------------------------------------------------------------------- auth


async def test_no_credentials_fail_the_handshake_with_401(server: RunningServer,
                                                          handshake) -> None:
    assert await handshake("resource.change", headers={}) == 401


@pytest.mark.parametrize("header", [
    "Basic " + base64.b64encode(b"NOSUCHKEY0000000000A:" + b"x" * 40).decode(),
    "Basic not-base64!",
    "Bearer abc",
])
async def test_bad_credentials_fail_the_handshake_with_401(server: RunningServer, handshake,
                                                           header: str) -> None:
    assert await handshake("resource.change", headers={"Authorization": header}) == 401


async def test_a_wrong_secret_for_a_real_key_fails_with_401(server: RunningServer,
                                                            handshake) -> None:
    access, _ = server.admin_auth
    assert await handshake("resource.change", auth=(access, "y" * 40)) == 401


async def test_401_body_and_challenge(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as anon:
        r = await anon.get("/v1/subscribe", params={"eventNames": "ping"}, headers=UPGRADE)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert r.json()["code"] == "Unauthorized"


# ------------------------------------------------------------------------- names


async def test_a_bad_event_name_is_422_naming_eventNames(
        server: RunningServer, api: httpx.AsyncClient, handshake) -> None:
    assert await handshake("bad name", auth=server.admin_auth) == 422
    r = await refused_upgrade(api, [("eventNames", "resource.change"),
                                    ("eventNames", "bad name")])
    assert r.status_code == 422 and r.json()["fieldName"] == "eventNames"
    r = await refused_upgrade(api, [("eventNames", "x" * 256)])
    assert r.status_code == 422 and r.json()["fieldName"] == "eventNames"


async def test_missing_eventNames_is_422(server: RunningServer, api: httpx.AsyncClient,
                                         handshake) -> None:
    assert await handshake(auth=server.admin_auth) == 422
    r = await refused_upgrade(api, [])
    assert r.status_code == 422
    assert r.json()["fieldName"] == "eventNames" and r.json()["code"] == "MissingRequired"


async def test_bad_agentId_and_since_are_422(server: RunningServer, api: httpx.AsyncClient,
                                             handshake) -> None:
    assert await handshake("ping", auth=server.admin_auth, agent_id="1i5") == 422
    r = await refused_upgrade(api, [("eventNames", "ping"), ("agentId", "1i5")])
    assert r.json()["fieldName"] == "agentId"
    r = await refused_upgrade(api, [("eventNames", "ping"), ("since", "-1")])
    assert r.status_code == 422 and r.json()["fieldName"] == "since"


async def test_a_project_key_may_not_subscribe_to_everything(
        server: RunningServer, api: httpx.AsyncClient, handshake, project_key) -> None:
    pk, _ = await project_key()
    assert await handshake("*", auth=pk) == 403
    assert await handshake("resource.change", "*", auth=pk) == 403
    r = await refused_upgrade(api, [("eventNames", "*")], auth=pk)
    assert r.status_code == 403 and r.json()["code"] == "Forbidden"
    assert r.json()["fieldName"] == "eventNames"


async def test_a_plain_get_without_upgrade_is_refused(server: RunningServer,
                                                      api: httpx.AsyncClient) -> None:
    r = await api.get("/v1/subscribe", params={"eventNames": "ping"})
    assert 400 <= r.status_code < 500
    assert r.json()["type"] == "error"


# ------------------------------------------------------------------------- publish


async def test_a_project_key_publishes_replies_only(server: RunningServer, publish,
                                                    project_key) -> None:
    pk, _ = await project_key()
    r = await publish({"name": "compute.x"}, auth=pk)
    assert r.status_code == 403
    assert r.json()["code"] == "Forbidden" and r.json()["fieldName"] == "name"
    r = await publish({"name": "compute.x;agent=1", "data": {}}, auth=pk)
    assert r.status_code == 403
    r = await publish({"name": "reply.123", "previousIds": ["abc"], "data": {"ok": True}},
                      auth=pk)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "reply.123" and body["previousIds"] == ["abc"]
    assert body["data"] == {"ok": True} and body["id"] and body["time"] > 0


@pytest.mark.parametrize("name", ["compute.x", "compute.instance.activate;agent=7",
                                  "resource.change;account=2", "reply.5", "anything_at_all"])
async def test_admin_publishes_anything(server: RunningServer, publish, name: str) -> None:
    r = await publish({"name": name, "id": "my-own-id", "data": {"k": "v"}})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == name and r.json()["id"] == "my-own-id"
    assert r.json()["type"] == "publish"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "name"),
    ({"data": {}}, "name"),
    ({"name": "bad name"}, "name"),
    ({"name": 5}, "name"),
    ({"name": "x", "replyTo": "no spaces allowed"}, "replyTo"),
    ({"name": "x", "transitioning": "maybe"}, "transitioning"),
    ({"name": "x", "transitioningProgress": 101}, "transitioningProgress"),
    ({"name": "x", "previousIds": "not-a-list"}, "previousIds"),
    ({"name": "x", "timeoutMillis": "soon"}, "timeoutMillis"),
    ({"name": "x", "data": [1, 2]}, "data"),
    ({"name": "x", "context": {"k": 1}}, "context"),
    ({"name": "resource.change", "seq": 5}, "seq"),  # nobody forges a place in the stream
])
async def test_a_malformed_publish_is_4xx_naming_the_field(server: RunningServer, publish,
                                                           body: dict, field: str) -> None:
    r = await publish(body)
    assert 400 <= r.status_code < 500, r.text
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "error" and r.json()["fieldName"] == field


async def test_a_body_that_is_not_json_is_400(server: RunningServer,
                                              api: httpx.AsyncClient) -> None:
    r = await api.post("/v1/publish", content=b"{not json",
                       headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["type"] == "error"


async def test_publish_needs_credentials_and_is_create_only(server: RunningServer,
                                                            api: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=server.url) as anon:
        assert (await anon.post("/v1/publish", json={"name": "x"})).status_code == 401
    r = await api.get("/v1/publish")
    assert r.status_code == 405
