"""One run per key at a time: callers asking for a key while its run is under way share it.

For slow lookups many requests miss together (a cache entry that expires under load):
the auth check of a key, the host rows of the engine. The run is shielded, so a caller
that goes away does not cancel it for the others; an exception reaches every caller
waiting then, and the next call runs again. ``forget()`` drops the runs under way (their
callers still get their answers; later callers start new runs) and bumps ``generation``,
which a run can compare with the value it started under to know its answer may be stale.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class SingleFlight(Generic[V]):
    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[V]] = {}
        self.generation = 0

    async def run(self, key: Hashable, make: Callable[[], Awaitable[V]]) -> V:
        """``make()``'s result, from the run under way for ``key`` or from a new one."""
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(make())
            self._running[key] = running
            running.add_done_callback(functools.partial(self._done, key))
        return await asyncio.shield(running)

    def _done(self, key: Hashable, running: asyncio.Future[V]) -> None:
        if self._running.get(key) is running:
            del self._running[key]
        if not running.cancelled():
            running.exception()  # retrieved here too: every waiter may have gone

    def forget(self) -> None:
        self._running.clear()
        self.generation += 1


__all__ = ["SingleFlight"]
