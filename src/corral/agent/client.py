"""The agent's side of the wire: one aiohttp session with the agent key for everything.

* :meth:`ServerClient.subscribe` opens ``/v1/subscribe`` for the agent (§3);
* :meth:`ServerClient.publish` posts a reply to ``/v1/publish``, trying a few times: a reply
  that cannot be delivered is dropped, the server sends the work again as a new event;
* :meth:`ServerClient.container_event` posts to ``/v1/containerevents``.

Authentication is an explicit ``Authorization: Basic`` header (``aiohttp.BasicAuth`` is
deprecated in aiohttp 3.14).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

import aiohttp
from yarl import URL

from corral.agent.keys import AgentKeys

logger = logging.getLogger(__name__)

RETRYABLE = (aiohttp.ClientError, OSError, asyncio.TimeoutError)


class AuthRejected(Exception):
    """The server refused the agent key (401/403): retrying soon will not help."""


def basic_header(access: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{access}:{secret}".encode()).decode()


class Backoff:
    """Exponential backoff with jitter: ``initial * 2**n`` capped at ``maximum``, each delay
    drawn from the upper half of that, so a fleet of agents does not reconnect in step."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.attempt = 0

    def next(self) -> float:
        ceiling = min(self.maximum, self.initial * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return ceiling * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0


class ServerClient:
    def __init__(self, keys: AgentKeys, *, url: str, request_timeout: float = 30.0,
                 heartbeat: float = 10.0) -> None:
        self.keys = keys
        self.url = url
        self.request_timeout = request_timeout
        self.heartbeat = heartbeat
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(
            headers={"Authorization": basic_header(self.keys.access_key, self.keys.secret_key)},
            timeout=aiohttp.ClientTimeout(total=self.request_timeout),
        )
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("ServerClient is not open")
        return self._session

    def subscribe_url(self, event_names: Iterable[str]) -> URL:
        base = URL(self.url)
        scheme = {"https": "wss", "http": "ws"}.get(base.scheme, base.scheme)
        query = [("eventNames", n) for n in event_names]
        query.append(("agentId", self.keys.agent_id))
        return base.with_scheme(scheme).with_path("/v1/subscribe").with_query(query)

    async def subscribe(self, event_names: Iterable[str]) -> aiohttp.ClientWebSocketResponse:
        """Open the subscription. :class:`AuthRejected` on 401/403, client errors else."""
        try:
            return await self.session.ws_connect(
                self.subscribe_url(event_names), heartbeat=self.heartbeat, autoping=True,
                max_msg_size=16 << 20, timeout=aiohttp.ClientWSTimeout(ws_close=5.0))
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                raise AuthRejected(f"HTTP {exc.status} {exc.message}") from None
            raise

    async def publish(self, body: dict[str, Any], *, attempts: int = 3) -> bool:
        """Post one event (a reply); True once the server took it (201)."""
        delay = 0.2
        for attempt in range(1, attempts + 1):
            try:
                async with self.session.post(f"{self.url}/v1/publish", json=body) as r:
                    if r.status == 201:
                        return True
                    text = (await r.text())[:300]
                    if 400 <= r.status < 500:
                        logger.error("reply %s refused: HTTP %s %s", body.get("name"), r.status,
                                     text)
                        return False
                    logger.warning("reply %s: HTTP %s %s", body.get("name"), r.status, text)
            except RETRYABLE as exc:
                logger.warning("cannot publish reply %s (attempt %d/%d): %s", body.get("name"),
                               attempt, attempts, exc.__class__.__name__)
            if attempt < attempts:
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay *= 2
        return False

    async def container_event(self, body: dict[str, Any]) -> tuple[int, Any]:
        """``POST /v1/containerevents``: (status, decoded answer). Raises client errors."""
        async with self.session.post(f"{self.url}/v1/containerevents", json=body) as r:
            try:
                answer = await r.json(content_type=None)
            except ValueError:
                answer = await r.text()
            return r.status, answer
