"""Browsers cannot set an Authorization header on a WebSocket: the subscribe upgrade also
takes the key from the subprotocols ``corral`` + ``corral.basic.<base64url(access:secret)>``.
Only that upgrade; the header keeps working and wins; the credential is never logged."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import orjson
import pytest
from tests.conftest import TIMEOUT_FACTOR, RunningServer
from yarl import URL

pytestmark = pytest.mark.e2e


def basic(auth: tuple[str, str]) -> dict[str, str]:
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def credential(access: str, secret: str) -> str:
    token = base64.urlsafe_b64encode(f"{access}:{secret}".encode()).decode().rstrip("=")
    return f"corral.basic.{token}"


def ws_url(server: RunningServer, path: str = "/v1/subscribe",
           names: tuple[str, ...] = ("resource.change",)) -> URL:
    return URL(server.url).with_scheme("ws").with_path(path).with_query(
        [("eventNames", n) for n in names])


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def no_secret_logged(caplog: pytest.LogCaptureFixture, server: RunningServer) -> Any:
    caplog.set_level(logging.DEBUG)
    yield
    secret = server.admin_auth[1]
    leaked = [r.getMessage() for r in caplog.records if secret in r.getMessage()
              or credential(*server.admin_auth)[len("corral.basic."):] in r.getMessage()]
    assert not leaked


async def refused(session: aiohttp.ClientSession, url: URL, **kw: Any) -> int:
    try:
        ws = await session.ws_connect(url, **kw)
    except aiohttp.WSServerHandshakeError as e:
        return e.status
    await ws.close()
    pytest.fail(f"the handshake to {url} was accepted")


async def first_ping(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=5 * TIMEOUT_FACTOR)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    event: dict[str, Any] = orjson.loads(msg.data)
    return event


async def test_the_subprotocol_credential_opens_the_subscription(
        server: RunningServer, api: httpx.AsyncClient, session: aiohttp.ClientSession,
        no_secret_logged: None) -> None:
    project = (await api.get("/v1/projects")).json()["data"][0]
    r = await api.post(f"/v1/projects/{project['id']}/apikeys", json={"name": "browser"})
    key = (r.json()["publicValue"], r.json()["secretValue"])
    for path, auth in (("/v1/subscribe", server.admin_auth),
                       (f"/v1/projects/{project['id']}/subscribe", key)):
        ws = await session.ws_connect(ws_url(server, path),
                                      protocols=("corral", credential(*auth)))
        try:
            assert ws.protocol == "corral"  # the credential is never echoed
            assert (await first_ping(ws))["name"] == "ping"
        finally:
            await ws.close()

    # and the events flow: a project key sees its project's resource.change
    ws = await session.ws_connect(ws_url(server, f"/v1/projects/{project['id']}/subscribe"),
                                  protocols=("corral", credential(*key)))
    try:
        await first_ping(ws)
        created = (await api.post(f"/v1/projects/{project['id']}/stacks",
                                  json={"name": "seen"})).json()
        while True:
            event = await first_ping(ws)
            if event["name"] == "resource.change" and event["resourceId"] == created["id"]:
                break
    finally:
        await ws.close()


async def test_a_wrong_or_malformed_credential_is_refused(
        server: RunningServer, session: aiohttp.ClientSession, no_secret_logged: None) -> None:
    url = ws_url(server)
    access, secret = server.admin_auth
    assert await refused(session, url, protocols=("corral", credential(access, "x" * 40))) == 401
    assert await refused(session, url, protocols=("corral", "corral.basic.%%%")) == 401
    assert await refused(session, url, protocols=("corral", "corral.basic.")) == 401
    assert await refused(session, url, protocols=("corral",)) == 401  # no key at all
    # the credential alone, without "corral" to answer with: refused before the upgrade
    # (aiohttp would log the offered protocols otherwise)
    assert await refused(session, url, protocols=(credential(access, secret),)) == 422


async def test_only_the_subscribe_upgrade_takes_it(
        server: RunningServer, session: aiohttp.ClientSession, no_secret_logged: None) -> None:
    cred = credential(*server.admin_auth)
    headers = {"Sec-WebSocket-Protocol": f"corral, {cred}"}
    async with httpx.AsyncClient(base_url=server.url) as anon:
        for path in ("/v1", "/v1/projects", "/v1/subscribe?eventNames=ping"):
            assert (await anon.get(path, headers=headers)).status_code == 401, path
    assert await refused(session, URL(server.url).with_scheme("ws").with_path("/v1/projects"),
                         protocols=("corral", cred)) == 401


async def test_the_header_still_works_and_wins(
        server: RunningServer, session: aiohttp.ClientSession, no_secret_logged: None) -> None:
    ws = await session.ws_connect(ws_url(server), headers=basic(server.admin_auth))
    try:
        assert ws.protocol is None and (await first_ping(ws))["name"] == "ping"
    finally:
        await ws.close()
    ws = await session.ws_connect(ws_url(server), headers=basic(server.admin_auth),
                                  protocols=("corral", credential("NOBODY0000", "bad")))
    try:
        assert (await first_ping(ws))["name"] == "ping"
    finally:
        await ws.close()
    assert await refused(session, ws_url(server), headers=basic(("NOBODY0000", "bad")),
                         protocols=("corral", credential(*server.admin_auth))) == 401
