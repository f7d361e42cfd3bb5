"""The host agent: subscribes with its agent key, runs handlers, reports exits.

One subscription at a time, opened again with exponential backoff and jitter whenever it
ends (the server restarted, the network dropped, a heartbeat went unanswered). Each call
event runs in a task of its own; the tasks of one resource (an instance's uuid) run one at
a time, in arrival order. A slow handler sends a progress reply (``transitioning: yes``)
first and again while it works, which keeps the server's call alive. Keep-alive ``ping``
events (no ``replyTo``) get no answer; ``ping`` calls do (§10).

An event id seen again (a resumed stream, a duplicate) is not worked twice: its reply is
sent again if it was already made. When the driver reports that an instance ended on its
own, the agent posts a container event (``externalStatus: die``), retrying while the server
cannot be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from corral.agent.client import RETRYABLE, AuthRejected, Backoff, ServerClient
from corral.agent.handlers import COMMANDS, SLOW_COMMANDS, EventHandlers, HandlerError, resource_key
from corral.agent.keys import AgentKeys
from corral.agent.runtime import InstanceFacts, RuntimeDriver, RuntimeDriverError
from corral.errors import ProtocolError
from corral.protocol.event import Event, decode, reply_to, to_wire

logger = logging.getLogger(__name__)

SUBSCRIBE_NAMES = (*COMMANDS, "ping")
MAX_MESSAGE = 4000
SEEN_EVENTS = 2048


class KeyedLocks:
    """One FIFO lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class Agent:
    def __init__(self, keys: AgentKeys, driver: RuntimeDriver, *, url: str, data_dir: Path,
                 hostname: str, progress_interval: float = 5.0) -> None:
        self.keys = keys
        self.driver = driver
        self.url = url
        self.handlers = EventHandlers(driver, keys, data_dir=data_dir, hostname=hostname)
        self.progress_interval = progress_interval
        self.client = ServerClient(keys, url=url)
        self.locks = KeyedLocks()
        self.connected = asyncio.Event()
        self.connects = 0
        self.ready_connects = 0
        self._seen: OrderedDict[str, dict[str, Any] | None] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Recover the instances, then serve until ``stop`` is set. Instances keep running."""
        async with self.client, self.driver:
            self.driver.add_exit_listener(self._on_exit)
            facts = await self.driver.recover()
            logger.info("agent %s (host %s) recovered %d instance(s), %d running",
                        self.keys.agent_id, self.keys.host_id, len(facts),
                        sum(1 for f in facts if f.state == "running"))
            serve = asyncio.create_task(self._serve(), name="agent-subscription")
            stopped = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({serve, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._stopping = True
                for task in (serve, stopped):
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
                await self._drain()
                self.driver.remove_exit_listener(self._on_exit)
        logger.info("agent %s stopped", self.keys.agent_id)

    async def _drain(self, timeout: float = 5.0) -> None:
        """Give running handlers a moment to reply, then cancel what is left."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the subscription --------------------------------------------------------------------

    async def _serve(self) -> None:
        backoff = Backoff(initial=0.5, maximum=30.0)
        while not self._stopping:
            try:
                ws = await self.client.subscribe(SUBSCRIBE_NAMES)
            except AuthRejected as exc:
                wait = max(backoff.next(), 10.0)
                logger.error("the server refused this agent's key (%s): was the agent or its "
                             "host removed? retrying in %.0fs", exc, wait)
                await asyncio.sleep(wait)
                continue
            except RETRYABLE as exc:
                wait = backoff.next()
                logger.warning("cannot subscribe to %s (%s: %s); retrying in %.1fs", self.url,
                               exc.__class__.__name__, exc, wait)
                await asyncio.sleep(wait)
                continue
            self.connects += 1
            self.connected.set()
            logger.info("subscribed to %s as agent %s (connection %d)", self.url,
                        self.keys.agent_id, self.connects)
            try:
                received = await self._read(ws)
            except RETRYABLE as exc:
                received = 0
                logger.warning("subscription failed: %s: %s", exc.__class__.__name__, exc)
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await ws.close()
            if received:
                backoff.reset()
            if not self._stopping:
                wait = backoff.next()
                logger.warning("subscription closed (code %s, %d event(s) received); "
                               "reconnecting in %.1fs", ws.close_code, received, wait)
                await asyncio.sleep(wait)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> int:
        received = 0
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type == aiohttp.WSMsgType.ERROR:
                    logger.warning("websocket error: %s", ws.exception())
                    break
                continue
            received += 1
            try:
                event = decode(msg.data)
            except ProtocolError as exc:
                logger.warning("ignoring a malformed event: %s", exc)
                continue
            if received == 1 and event.name == "ping" and not event.reply_to:
                # The server pings once the subscription is in place: from now on no event
                # meant for this agent is missed.
                self.ready_connects += 1
                logger.info("subscription ready (connection %d)", self.connects)
            self.dispatch(event)
        return received

    def dispatch(self, event: Event) -> None:
        """Start the work for one received event (never blocks the reader)."""
        if not event.reply_to:
            if event.name != "ping":
                logger.debug("ignoring %s %s: not a call", event.name, event.id)
            return
        if self.handlers.get(event.name) is None:
            logger.warning("no handler for %s (event %s)", event.name, event.id)
            return
        if event.name == "ping":  # cheap and read-only: answered every time, not cached
            self._spawn(self._handle(event), f"ping-{event.id}")
            return
        if event.id in self._seen:
            cached = self._seen[event.id]
            logger.info("event %s %s seen before: %s", event.name, event.id,
                        "replying again" if cached else "still in progress")
            if cached is not None:
                self._spawn(self.client.publish(cached), f"republish-{event.id}")
            return
        self._remember(event.id, None)
        self._spawn(self._handle_serialised(event), f"{event.name}-{event.id}")

    def _remember(self, event_id: str, reply: dict[str, Any] | None) -> None:
        self._seen[event_id] = reply
        self._seen.move_to_end(event_id)
        while len(self._seen) > SEEN_EVENTS:
            self._seen.popitem(last=False)

    # -- handling ----------------------------------------------------------------------------

    async def _handle_serialised(self, event: Event) -> None:
        async with self.locks.hold(resource_key(event)):
            await self._handle(event)

    async def _handle(self, event: Event) -> None:
        handler = self.handlers.get(event.name)
        assert handler is not None
        work = asyncio.create_task(handler(event))
        keepalive = asyncio.create_task(self._progress(event, work))
        try:
            data = await work
            reply = reply_to(event, data=data)
        except (HandlerError, RuntimeDriverError) as exc:
            logger.warning("%s %s failed: %s", event.name, event.resource_id, exc)
            reply = reply_to(event, transitioning="error", message=_short(str(exc)))
        except Exception as exc:
            logger.exception("%s %s failed unexpectedly", event.name, event.resource_id)
            reply = reply_to(event, transitioning="error",
                             message=_short(f"agent error: {exc.__class__.__name__}: {exc}"),
                             internal_message=_short(repr(exc)))
        finally:
            # The keep-alive ends by itself once the work is done; a progress reply it is
            # posting right now is let through, so it never arrives after the final one.
            if not work.done():
                work.cancel()
            with contextlib.suppress(BaseException):
                await keepalive
        body = self._body(reply)
        if event.name != "ping":
            self._remember(event.id, body)
        if not await self.client.publish(body):
            logger.warning("reply to %s %s dropped; the server will send the work again",
                           event.name, event.id)

    async def _progress(self, event: Event, work: asyncio.Task[Any]) -> None:
        """Progress replies for slow work: one at once, then every interval (at most a third
        of the call's timeout, so the server's wait never runs out)."""
        interval = self.progress_interval
        if event.timeout_millis:
            interval = max(0.1, min(interval, event.timeout_millis / 3000))
        slow = event.name in SLOW_COMMANDS
        if not slow:
            await asyncio.wait({work}, timeout=interval)
        while not work.done():
            message = f"{event.name.rsplit('.', 1)[-1]} in progress"
            await self.client.publish(self._body(reply_to(event, transitioning="yes",
                                                          message=message)), attempts=1)
            await asyncio.wait({work}, timeout=interval)

    def _body(self, reply: Event) -> dict[str, Any]:
        body = to_wire(reply.copy(publisher=f"agent:{self.keys.agent_id}"))
        return body

    # -- container events --------------------------------------------------------------------

    def _on_exit(self, facts: InstanceFacts) -> None:
        body: dict[str, Any] = {
            "externalId": str(facts.pid) if facts.pid is not None else facts.uuid,
            "externalStatus": "die",
        }
        if facts.exit_code is not None:
            body["exitCode"] = facts.exit_code
        self._spawn(self._report(body, facts.uuid), f"containerevent-{facts.uuid}")

    async def _report(self, body: dict[str, Any], uuid: str, attempts: int = 12) -> None:
        backoff = Backoff(initial=1.0, maximum=60.0)
        for attempt in range(1, attempts + 1):
            try:
                status, answer = await self.client.container_event(body)
            except RETRYABLE as exc:
                logger.warning("cannot report exit of instance %s (attempt %d): %s", uuid,
                               attempt, exc.__class__.__name__)
            else:
                if status in (200, 201):
                    ce_id = answer.get("id") if isinstance(answer, dict) else None
                    logger.info("reported exit of instance %s externalId=%s exitCode=%s: %s",
                                uuid, body["externalId"], body.get("exitCode"), ce_id)
                    return
                logger.error("container event for instance %s refused: HTTP %s %s", uuid,
                             status, str(answer)[:300])
                if 400 <= status < 500:
                    return
            if self._stopping:
                return
            await asyncio.sleep(backoff.next())


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"
