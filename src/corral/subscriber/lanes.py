"""A bounded queue that keeps per-key order: the worker pool's only shared structure.

Each item has a key (for events: ``resourceType:resourceId``). Items of one key are
handed out one at a time, in the order they were put, and the next is handed out only
after ``done(key)`` for the previous one, so two events of one resource are never
handled at once nor out of order. Items of different keys run in parallel, and a slow
key does not hold up the others (no head-of-line blocking, unlike hashing keys onto a
fixed set of lanes).

``put`` waits while ``maxsize`` items are waiting (not yet handed out): the reader stops
reading the socket, which is the backpressure. Nothing is ever dropped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["KeyedQueue"]

T = TypeVar("T")


class _Changed:
    """Wakes every waiter when something changed; each waiter then checks its condition."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    async def until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)


class KeyedQueue(Generic[T]):
    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("queue_size must be at least 1")
        self.maxsize = maxsize
        self._waiting: dict[Hashable, deque[T]] = {}  # per key, not yet handed out
        self._ready: deque[Hashable] = deque()  # keys with waiting items and none running
        self._running: set[Hashable] = set()
        self._size = 0
        self._changed = _Changed()

    def __len__(self) -> int:
        """Items waiting (not yet handed out)."""
        return self._size

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def idle(self) -> bool:
        return self._size == 0 and not self._running

    async def wait_room(self) -> None:
        """Until an item may be put without going over ``maxsize``."""
        await self._changed.until(lambda: self._size < self.maxsize)

    def put_nowait(self, key: Hashable, item: T) -> None:
        """Add ``item`` (call after ``wait_room``: it does not check the bound)."""
        pending = self._waiting.get(key)
        if pending is None:
            pending = self._waiting[key] = deque()
            if key not in self._running:
                self._ready.append(key)
        pending.append(item)
        self._size += 1
        self._changed.notify()

    async def put(self, key: Hashable, item: T) -> None:
        await self.wait_room()
        self.put_nowait(key, item)

    async def get(self) -> tuple[Hashable, T]:
        """The next item whose key is not running; its key is running until ``done``."""
        await self._changed.until(lambda: bool(self._ready))
        key = self._ready.popleft()
        pending = self._waiting[key]
        item = pending.popleft()
        if not pending:
            del self._waiting[key]
        self._size -= 1
        self._running.add(key)
        self._changed.notify()
        return key, item

    def done(self, key: Hashable) -> None:
        """The item handed out for ``key`` is finished: the key's next one may go."""
        self._running.discard(key)
        if key in self._waiting:
            self._ready.append(key)
        self._changed.notify()

    async def join(self) -> None:
        """Until nothing is waiting or running."""
        await self._changed.until(lambda: self.idle)
