"""The reconnecting reader: one WebSocket at a time, events handed on in arrival order.

Each connection subscribes with ``since=<resume position>`` (§7) when there is one, so
the server first replays what was missed and then goes live, with no gap. The first
``ping`` of a connection means the subscription is registered: from then on the stream
counts as *subscribed* (the healthcheck says 200) until the socket ends.

``deliver`` is awaited for every event: while it waits (the worker queue is full) the
socket is not read, and TCP flow control pushes back to the server. If the server gives
up on us (close 4008, slow consumer) the next connection resumes where we were.

Close codes: 4010 (``resync.required``, the position was purged or is ahead of the
server) reconnects at once without ``since``; anything else waits a backoff delay. A
handshake refused with 401/403 is retried (the key may come back, e.g. rotated), other
4xx mean the request itself is wrong and end the run with :class:`SubscribeRefused`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import aiohttp

from corral.errors import ProtocolError
from corral.protocol.event import Event, decode
from corral.subscriber.backoff import Backoff
from corral.subscriber.config import Endpoint

__all__ = ["CLOSE_RESYNC_REQUIRED", "CLOSE_SLOW_CONSUMER", "EventStream", "SubscribeRefused"]

log = logging.getLogger(__name__)

CLOSE_SLOW_CONSUMER = 4008
CLOSE_RESYNC_REQUIRED = 4010
RESYNC_REQUIRED = "resync.required"
_RETRYABLE = (aiohttp.ClientError, OSError, asyncio.TimeoutError)


class SubscribeRefused(Exception):
    """The server refused the subscription for a reason retrying will not fix."""


class EventStream:
    def __init__(self, endpoint: Endpoint, session: aiohttp.ClientSession,
                 event_names: Sequence[str], *, agent_id: str | None,
                 since: Callable[[], int | None], deliver: Callable[[Event], Awaitable[None]],
                 resync: Callable[[Event], Awaitable[None]],
                 subscribed: Callable[[], Awaitable[None]],
                 backoff: Backoff, heartbeat: float) -> None:
        self.endpoint = endpoint
        self.session = session
        self.event_names = list(event_names)
        self.agent_id = agent_id
        self.since = since
        self.deliver = deliver
        self.resync = resync
        self.on_subscribed = subscribed
        self.backoff = backoff
        self.heartbeat = heartbeat
        self.subscribed = False
        self.connections = 0  # subscriptions that got their first ping
        self.failures = 0  # connection attempts or sockets that failed in a row
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    async def run(self) -> None:
        """Read until cancelled (or a refusal that retrying will not fix)."""
        while True:
            since = self.since()
            url = self.endpoint.subscribe_url(self.event_names, agent_id=self.agent_id,
                                              since=since)
            try:
                ws = await self.session.ws_connect(
                    url, heartbeat=self.heartbeat, autoping=True, max_msg_size=16 << 20,
                    timeout=aiohttp.ClientWSTimeout(ws_close=5.0))
            except aiohttp.WSServerHandshakeError as exc:
                self._refused(exc)
                await self._pause(f"HTTP {exc.status}")
                continue
            except _RETRYABLE as exc:
                await self._pause(_describe(exc))
                continue
            log.debug("connected to %s (since=%s)", self.endpoint.api, since)
            code, reason, resync = await self._read(ws)
            if code == CLOSE_RESYNC_REQUIRED or resync:
                continue  # the position was reset: subscribe again, live, right away
            if code == CLOSE_SLOW_CONSUMER:
                log.warning("the server dropped us as a slow consumer (%s); resuming", reason)
            await self._pause(f"closed {code} {reason}".strip())

    async def close(self) -> None:
        """Close the current socket (the reader then ends its connection)."""
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()

    def _refused(self, exc: aiohttp.WSServerHandshakeError) -> None:
        if exc.status in (401, 403):
            log.error("the server refused the key %s: HTTP %s (retrying)",
                      self.endpoint.access_key, exc.status)
        elif 400 <= exc.status < 500 and exc.status not in (404, 408, 429):
            raise SubscribeRefused(f"subscribe refused: HTTP {exc.status} {exc.message}") from None

    async def _pause(self, why: str) -> None:
        self.failures += 1
        delay = self.backoff.next()
        level = logging.WARNING if self.failures == 1 or self.failures % 10 == 0 else logging.INFO
        log.log(level, "not subscribed (%s); retrying in %.2f s (attempt %d)", why, delay,
                self.failures)
        await asyncio.sleep(delay)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> tuple[int | None, str, bool]:
        """Deliver events until the socket ends: (close code, reason, resync seen)."""
        self._ws = ws
        reason = ""
        resync = False
        try:
            while True:
                msg = await ws.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    try:
                        event = decode(msg.data)
                    except ProtocolError as exc:
                        log.warning("ignoring a malformed event: %s", exc)
                        continue
                    if event.name == "ping" and not self.subscribed:
                        await self._went_live()
                    if event.name == RESYNC_REQUIRED:
                        resync = True
                        log.warning("resync required: %s", event.data)
                        await self.resync(event)
                        continue
                    await self.deliver(event)
                elif msg.type == aiohttp.WSMsgType.CLOSE:
                    reason = str(msg.extra or "")
                elif msg.type in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                                  aiohttp.WSMsgType.ERROR):
                    break
        finally:
            self._ws = None
            if self.subscribed:
                log.info("unsubscribed")
            self.subscribed = False
            if not ws.closed:
                await asyncio.shield(ws.close())
        return ws.close_code, reason, resync

    async def _went_live(self) -> None:
        self.subscribed = True
        self.connections += 1
        self.failures = 0
        self.backoff.reset()
        log.info("subscribed to %s at %s", ", ".join(self.event_names), self.endpoint.api)
        await self.on_subscribed()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
