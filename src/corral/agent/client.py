"""The agent's side of the wire, with the agent key.

* :meth:`ServerClient.subscribe` opens ``/v1/subscribe`` for the agent (§3) (aiohttp: the
  WebSocket; an explicit ``Authorization: Basic`` header, ``aiohttp.BasicAuth`` being
  deprecated in aiohttp 3.14);
* :meth:`ServerClient.publish` posts a reply to ``/v1/publish``, trying a few times: a reply
  that cannot be delivered is dropped, the server sends the work again as a new event;
* :meth:`ServerClient.container_event` posts to ``/v1/containerevents``.

The REST calls go through :class:`corral.client.AsyncClient`, the client the CLI and the
subscriber SDK use too.
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
from corral.client import AsyncClient
from corral.client.errors import ApiError, ConnectionFailed

logger = logging.getLogger(__name__)

RETRYABLE = (aiohttp.ClientError, OSError, asyncio.TimeoutError, ConnectionFailed)


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
        self._api: AsyncClient | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(
            headers={"Authorization": basic_header(self.keys.access_key, self.keys.secret_key)},
            timeout=aiohttp.ClientTimeout(total=self.request_timeout),
        )
        self._api = AsyncClient(self.url, self.keys.access_key, self.keys.secret_key,
                                timeout=self.request_timeout)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._api is not None:
            await self._api.aclose()
            self._api = None

    @property
    def api(self) -> AsyncClient:
        if self._api is None:
            raise RuntimeError("ServerClient is not open")
        return self._api

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
                await self.api.create("publish", **body)
                return True
            except ApiError as exc:
                if 400 <= exc.status < 500:
                    logger.error("reply %s refused: HTTP %s %s", body.get("name"), exc.status,
                                 exc.message[:300])
                    return False
                logger.warning("reply %s: HTTP %s %s", body.get("name"), exc.status,
                               exc.message[:300])
            except RETRYABLE as exc:
                logger.warning("cannot publish reply %s (attempt %d/%d): %s", body.get("name"),
                               attempt, attempts, exc.__class__.__name__)
            if attempt < attempts:
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay *= 2
        return False

    async def container_event(self, body: dict[str, Any]) -> tuple[int, Any]:
        """``POST /v1/containerevents``: (status, decoded answer). Raises connection errors."""
        try:
            return 201, await self.api.create("containerevents", **body)
        except ApiError as exc:
            return exc.status, exc.message
