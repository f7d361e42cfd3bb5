"""Helpers for the end-to-end bus tests: real aiohttp WebSocket clients against the real server.

Fixtures:

* ``subscribe(*event_names, auth=…, agent_id=…, since=…, path=…, read=True)`` opens a
  ``/v1/subscribe`` WebSocket, waits for its first ``ping`` (which the server sends once the
  subscription is registered) and returns a :class:`Subscriber` that collects every event.
  Every socket and HTTP session opened this way is closed at teardown, even on failure.
* ``handshake(*event_names, auth=…, …)`` tries the upgrade and returns the HTTP status of a
  refused handshake (or raises if it was accepted).
* ``project_key(project_id=None)`` creates an API key in a project (the Default project if
  none is given) and returns ``(auth, project)``.
* ``publish(event, auth=None)`` posts an event to ``/v1/publish`` and returns the response.

Waits are conditions with a deadline scaled by ``TIMEOUT_FACTOR``; no fixed sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import orjson
import pytest
from tests.conftest import TIMEOUT_FACTOR, RunningServer
from yarl import URL

Auth = tuple[str, str]


def basic(auth: Auth | None) -> dict[str, str]:
    """An ``Authorization: Basic …`` header (aiohttp.BasicAuth is deprecated in 3.14)."""
    if auth is None:
        return {}
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def subscribe_url(server: RunningServer, event_names: tuple[str, ...], *,
                  path: str = "/v1/subscribe", agent_id: str | None = None,
                  since: int | str | None = None) -> URL:
    query: list[tuple[str, str]] = [("eventNames", n) for n in event_names]
    if agent_id is not None:
        query.append(("agentId", agent_id))
    if since is not None:
        query.append(("since", str(since)))
    base = URL(server.url).with_scheme("ws")
    return base.with_path(path).with_query(query)


class Subscriber:
    """One WebSocket subscription; a reader task collects the events it receives."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse,
                 label: str) -> None:
        self.session = session
        self.ws = ws
        self.label = label
        self.received: list[dict[str, Any]] = []  # every event, pings included, in order
        self.close_code: int | None = None
        self.close_reason: str = ""
        self.ended = asyncio.Event()
        self._cond = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._go = asyncio.Event()
        self._go.set()

    # -- reading

    def start_reading(self) -> None:
        self._go.set()
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read())

    def pause_reading(self) -> None:
        """Stop reading after the message being waited for: the socket's buffers fill up."""
        self._go.clear()

    async def _read(self) -> None:
        ws = self.ws
        try:
            while True:
                await self._go.wait()
                msg = await ws.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.received.append(orjson.loads(msg.data))
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                                  aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    if msg.type == aiohttp.WSMsgType.CLOSE:
                        self.close_reason = msg.extra or ""
                    self.close_code = ws.close_code
                    break
                await self._notify()
        finally:
            if self.close_code is None:
                self.close_code = ws.close_code
            self.ended.set()
            await self._notify()

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def wait_for(self, predicate: Callable[[Subscriber], bool], what: str,
                       timeout: float = 5.0) -> None:
        """Wait until ``predicate(self)`` holds; fail with ``what`` after the deadline."""
        try:
            async with asyncio.timeout(timeout * TIMEOUT_FACTOR):
                async with self._cond:
                    await self._cond.wait_for(lambda: predicate(self))
        except TimeoutError:
            names = [e.get("name") for e in self.received][-20:]
            pytest.fail(f"{self.label}: timed out waiting for {what}; last names {names}, "
                        f"close code {self.close_code}")

    async def wait_closed(self, timeout: float = 10.0) -> None:
        await self.wait_for(lambda s: s.ended.is_set(), "the socket to close", timeout)

    # -- views

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event except pings."""
        return [e for e in self.received if e.get("name") != "ping"]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.received if e.get("name") == name]

    @property
    def pings(self) -> list[dict[str, Any]]:
        return self.named("ping")

    def seqs(self, name: str = "resource.change") -> list[int]:
        return [e["seq"] for e in self.named(name)]

    # -- lifecycle

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5 * TIMEOUT_FACTOR)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        await self.session.close()


SubscribeFn = Callable[..., Awaitable[Subscriber]]


@pytest.fixture
async def subscribe(server: RunningServer) -> AsyncIterator[SubscribeFn]:
    opened: list[Subscriber] = []

    async def open_(*event_names: str, auth: Auth | None = None, agent_id: str | None = None,
                    since: int | str | None = None, path: str = "/v1/subscribe",
                    read: bool = True, label: str = "") -> Subscriber:
        url = subscribe_url(server, event_names, path=path, agent_id=agent_id, since=since)
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(url, headers=basic(auth or server.admin_auth),
                                          autoping=True, timeout=aiohttp.ClientWSTimeout(
                                              ws_close=5 * TIMEOUT_FACTOR))
        except BaseException:
            await session.close()
            raise
        sub = Subscriber(session, ws, label or f"{','.join(event_names)}@{agent_id or path}")
        opened.append(sub)
        if read:
            sub.start_reading()
            await sub.wait_for(lambda s: bool(s.pings) or s.ended.is_set(), "the first ping")
        return sub

    try:
        yield open_
    finally:
        for sub in opened:
            await sub.close()


@pytest.fixture
def handshake(server: RunningServer) -> Callable[..., Awaitable[int]]:
    """The HTTP status of a WebSocket handshake that the server refuses."""

    async def try_(*event_names: str, auth: Auth | None = None, headers: dict[str, str] | None
                   = None, agent_id: str | None = None, since: int | str | None = None,
                   path: str = "/v1/subscribe") -> int:
        url = subscribe_url(server, event_names, path=path, agent_id=agent_id, since=since)
        async with aiohttp.ClientSession() as session:
            try:
                ws = await session.ws_connect(url, headers=headers if headers is not None
                                              else basic(auth))
            except aiohttp.WSServerHandshakeError as e:
                return e.status
            await ws.close()
            pytest.fail(f"the handshake to {url} was accepted")

    return try_


@pytest.fixture
def project_key(server: RunningServer, api: httpx.AsyncClient
                ) -> Callable[..., Awaitable[tuple[Auth, dict[str, Any]]]]:
    async def make(project: dict[str, Any] | None = None, name: str = "pk"
                   ) -> tuple[Auth, dict[str, Any]]:
        if project is None:
            r = await api.get("/v1/projects", params={"name": "Default"})
            project = r.json()["data"][0]
        r = await api.post(f"/v1/projects/{project['id']}/apikeys", json={"name": name})
        assert r.status_code == 201, r.text
        key = r.json()
        return (key["publicValue"], key["secretValue"]), project

    return make


@pytest.fixture
def publish(server: RunningServer, api: httpx.AsyncClient
            ) -> Callable[..., Awaitable[httpx.Response]]:
    async def post(event: dict[str, Any], auth: Auth | None = None) -> httpx.Response:
        if auth is None:
            return await api.post("/v1/publish", json=event)
        async with server.client(auth) as c:
            return await c.post("/v1/publish", json=event)

    return post
