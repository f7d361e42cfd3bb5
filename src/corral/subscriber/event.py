"""What a handler gets: the event, and helpers to answer it if it is a call (§2).

A call is an event with ``replyTo``. The answer is an event named ``replyTo`` with
``previousIds = [request id]``, posted to ``/v1/publish``: ``progress`` (transitioning
``yes``, not final, and a keep-alive for the caller's timeout), ``reply`` (final success)
or ``error`` (final failure). After the final answer, further answers are refused.

The ``*_sync`` variants are for handlers written as plain functions, which run in a
worker thread: they run the coroutine on the subscriber's loop and wait for it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine
from typing import Any

from corral.client import AsyncClient
from corral.client.errors import ApiError, ConnectionFailed
from corral.protocol.event import Event, reply_to, to_wire

__all__ = ["AlreadyReplied", "Publisher", "ReceivedEvent"]

log = logging.getLogger(__name__)



class AlreadyReplied(RuntimeError):
    """A call was answered with a final reply already."""


class Publisher:
    """Posts events to ``/v1/publish`` through :class:`corral.client.AsyncClient` (the REST
    client the CLI and the agent use too), retrying what may succeed on a second try."""

    def __init__(self, client: AsyncClient, *, attempts: int = 4) -> None:
        self.client = client
        self.attempts = attempts

    async def publish(self, event: Event) -> bool:
        """True once the server took the event (201); False if it refused or stayed away.

        A reply that cannot be delivered is not fatal: the caller's call times out and
        the server sends the work again.
        """
        body = to_wire(event)
        delay = 0.1
        for attempt in range(1, self.attempts + 1):
            try:
                await self.client.create("publish", **body)
                return True
            except ApiError as exc:
                if 400 <= exc.status < 500:
                    log.error("publish %s refused: HTTP %s %s", event.name, exc.status,
                              exc.message[:300])
                    return False
                log.warning("publish %s: HTTP %s %s", event.name, exc.status, exc.message[:300])
            except ConnectionFailed as exc:
                log.warning("cannot publish %s (attempt %d/%d): %s", event.name, attempt,
                            self.attempts, exc.__class__.__name__)
            if attempt < self.attempts:
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay *= 2
        return False


class ReceivedEvent:
    """One delivered event; attribute access mirrors the wire fields in snake_case."""

    __slots__ = ("_loop", "_publisher", "event", "replied")

    def __init__(self, event: Event, publisher: Publisher | None,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.event = event
        self._publisher = publisher
        self._loop = loop
        self.replied = False  # a final reply (success or error) was sent

    # -- the event

    @property
    def id(self) -> str:
        return self.event.id

    @property
    def name(self) -> str:
        return self.event.name

    @property
    def data(self) -> dict[str, Any]:
        """The payload (``{}`` for null)."""
        return self.event.data or {}

    @property
    def resource(self) -> dict[str, Any] | None:
        """``data.resource``: the resource as this key may see it (resource.change)."""
        value = self.data.get("resource")
        return value if isinstance(value, dict) else None

    @property
    def resource_type(self) -> str | None:
        return self.event.resource_type

    @property
    def resource_id(self) -> str | None:
        return self.event.resource_id

    @property
    def seq(self) -> int | None:
        return self.event.seq

    @property
    def reply_to(self) -> str | None:
        return self.event.reply_to

    @property
    def is_call(self) -> bool:
        return bool(self.event.reply_to)

    def __repr__(self) -> str:
        return (f"ReceivedEvent(name={self.name!r}, id={self.id!r}, "
                f"resource={self.resource_type}:{self.resource_id}, seq={self.seq})")

    # -- answering a call

    async def reply(self, data: dict[str, Any] | None = None) -> bool:
        """Final success with ``data``; True once the server took it."""
        return await self._answer(data=data)

    async def progress(self, message: str | None = None, percent: int | None = None, *,
                       data: dict[str, Any] | None = None) -> bool:
        """Not final: tells the caller how far along this is, and keeps its call alive."""
        return await self._answer(data=data, transitioning="yes", message=message,
                                  progress=percent)

    async def error(self, message: str, *, internal_message: str | None = None,
                    data: dict[str, Any] | None = None) -> bool:
        """Final failure: the caller's call raises with ``message``."""
        return await self._answer(data=data, transitioning="error", message=message,
                                  internal_message=internal_message)

    def reply_sync(self, data: dict[str, Any] | None = None) -> bool:
        return self._in_loop(self.reply(data))

    def progress_sync(self, message: str | None = None, percent: int | None = None, *,
                      data: dict[str, Any] | None = None) -> bool:
        return self._in_loop(self.progress(message, percent, data=data))

    def error_sync(self, message: str, *, internal_message: str | None = None,
                   data: dict[str, Any] | None = None) -> bool:
        return self._in_loop(self.error(message, internal_message=internal_message, data=data))

    async def _answer(self, *, data: dict[str, Any] | None, transitioning: str | None = None,
                      message: str | None = None, progress: int | None = None,
                      internal_message: str | None = None) -> bool:
        if self.replied:
            raise AlreadyReplied(f"{self.name} {self.id} was answered already")
        if self._publisher is None:
            raise RuntimeError("this event cannot be answered (no publisher)")
        answer = reply_to(self.event, data=data, transitioning=transitioning, message=message,
                          progress=progress, internal_message=internal_message)
        if transitioning != "yes":
            self.replied = True
        return await self._publisher.publish(answer)

    def _in_loop(self, coro: Coroutine[Any, Any, bool]) -> bool:
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("no event loop to answer on")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise RuntimeError("in a coroutine, await reply()/progress()/error() instead")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()
