"""A scripted agent for tests: subscribes with an agent key and answers, fails or stays silent.

``policy(event) -> Reply | None`` decides per received event: ``None`` withholds the
reply (the server times out and sends the work again as a new event).

``reconnect=True`` makes it behave like a real agent when the server goes away (a crash,
a restart): it subscribes again, every ``reconnect_interval`` seconds until it succeeds,
and a reply that cannot be posted is dropped (counted in ``publish_failures``) — the
server sends the work again as a new event. ``connects`` counts the subscriptions made.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from corral.protocol.ids import format_id

COMMANDS = ("compute.instance.activate", "compute.instance.deactivate", "compute.instance.remove",
            "storage.volume.activate", "storage.volume.deactivate", "storage.volume.remove")


@dataclass
class Reply:
    transitioning: str | None = None  # None/"no": success, "error", "yes": progress
    message: str | None = None
    data: dict[str, Any] | None = None
    delay: float = 0.0


def basic(access: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{access}:{secret}".encode()).decode()


def succeed(event: dict[str, Any]) -> Reply:
    return Reply(data={"instance": {"externalId": "4242"}} if "instance" in event["name"]
                 else {})


@dataclass
class ScriptedAgent:
    url: str
    access: str
    secret: str
    agent_id: int
    policy: Callable[[dict[str, Any]], Reply | None] = succeed
    received: list[dict[str, Any]] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    max_in_flight: int = 0
    answer_pings: bool = False  # reply to the server's ping calls (§10)
    paused: bool = False  # withhold every reply, pings included (a frozen agent)
    reconnect: bool = False
    reconnect_interval: float = 0.05
    connects: int = 0
    publish_failures: int = 0
    _task: asyncio.Task[None] | None = None
    _ws: Any = None
    _session: aiohttp.ClientSession | None = None
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _answers: set[asyncio.Task[None]] = field(default_factory=set)

    async def __aenter__(self) -> ScriptedAgent:
        self._session = aiohttp.ClientSession(headers={"Authorization": basic(self.access,
                                                                               self.secret)})
        try:
            await self._connect()
        except BaseException:
            await self._session.close()
            raise
        self._task = asyncio.get_running_loop().create_task(
            self._read_and_reconnect() if self.reconnect else self._read())
        return self

    async def _connect(self) -> None:
        assert self._session is not None
        names = "&".join(f"eventNames={n}" for n in (*COMMANDS, "ping"))
        self._ws = await self._session.ws_connect(
            f"{self.url}/v1/subscribe?{names}&agentId={format_id('agent', self.agent_id)}")
        self.connects += 1
        self._connected.set()

    async def _read_and_reconnect(self) -> None:
        while True:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                await self._read()
            self._connected.clear()
            if self._ws is not None:
                with contextlib.suppress(Exception):
                    await self._ws.close()
            while True:
                try:
                    await self._connect()
                    break
                except (TimeoutError, aiohttp.ClientError, OSError):
                    await asyncio.sleep(self.reconnect_interval)

    async def wait_connected(self, connects: int, timeout: float) -> None:
        """Wait until the agent has subscribed ``connects`` times in all (reconnects count)."""
        async def reached() -> None:
            while self.connects < connects or not self._connected.is_set():
                await asyncio.sleep(0.02)
        await asyncio.wait_for(reached(), timeout)

    async def __aexit__(self, *exc: Any) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self.reconnect:  # replies still waiting for their delay go nowhere now
            for t in list(self._answers):
                t.cancel()
            await asyncio.gather(*self._answers, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()

    def commands(self, name: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.received if e["name"] != "ping"
                and (name is None or e["name"] == name)]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(predicate), timeout)

    async def _read(self) -> None:
        tasks = self._answers
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            event = json.loads(msg.data)
            async with self._arrived:
                self.received.append(event)
                self._arrived.notify_all()
            if not event.get("replyTo") or self.paused:
                continue
            if event["name"] == "ping" and not self.answer_pings:
                continue
            t = asyncio.get_running_loop().create_task(self._answer(event))
            tasks.add(t)
            t.add_done_callback(tasks.discard)

    async def _answer(self, event: dict[str, Any]) -> None:
        resource = f"{event.get('resourceType')}:{event.get('resourceId')}"
        self.in_flight[resource] = self.in_flight.get(resource, 0) + 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight[resource])
        try:
            reply = Reply(data={"resources": [{"type": "host", "hostname": "scripted"}]}) \
                if event["name"] == "ping" else self.policy(event)
            if reply is None:
                return
            if reply.delay:
                await asyncio.sleep(reply.delay)
            body: dict[str, Any] = {"name": event["replyTo"], "previousIds": [event["id"]],
                                    "previousNames": [event["name"]],
                                    "resourceType": event.get("resourceType"),
                                    "resourceId": event.get("resourceId"),
                                    "data": reply.data or {}}
            if reply.transitioning:
                body["transitioning"] = reply.transitioning
            if reply.message:
                body["transitioningMessage"] = reply.message
            assert self._session is not None
            if self.reconnect:
                await self._publish_or_drop(body)
            else:
                async with self._session.post(f"{self.url}/v1/publish", json=body) as r:
                    assert r.status == 201, await r.text()
        finally:
            self.in_flight[resource] -= 1
            async with self._arrived:
                self._arrived.notify_all()

    async def _publish_or_drop(self, body: dict[str, Any]) -> None:
        """Post a reply; if the server is gone, drop it (a new server sends the work again)."""
        assert self._session is not None
        for attempt in range(2):  # once more on a pooled connection the old server closed
            try:
                async with self._session.post(f"{self.url}/v1/publish", json=body) as r:
                    assert r.status == 201, await r.text()
                    return
            except aiohttp.ServerDisconnectedError:
                if attempt:
                    break
            except (aiohttp.ClientError, OSError):
                break
        self.publish_failures += 1
