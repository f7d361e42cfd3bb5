"""The host rows the engine reads for every instance, kept for a short while.

Every instance start needs its host (the agent to send to, the host part of the event)
and every placement needs the project's active hosts. Hosts change seldom, so the pool
keeps what it read for ``TTL`` seconds (attempts that miss together share one read).
Changes made on this server (any host change goes through ``services.changed``) drop
the cache at once; a change made by another server shows here after at most ``TTL``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from corral.engine import hotsql
from corral.singleflight import SingleFlight
from corral.store import tables

TTL = 1.0


class HostCache:
    def __init__(self, store: Any, *, ttl: float = TTL) -> None:
        self.store = store
        self.ttl = ttl
        self._kept: dict[tuple[str, int], tuple[Any, float]] = {}
        self._reads: SingleFlight[Any] = SingleFlight()  # attempts that miss share one read

    async def host(self, host_id: int) -> Any:
        """The host's row, or None when there is no such host."""
        return await self._get(("host", host_id), self._read_host)

    async def active_ids(self, account_id: int) -> list[int]:
        """The ids of the project's active hosts that an agent owns, in id order."""
        ids: list[int] = await self._get(("active", account_id), self._read_active)
        return ids

    async def _read_host(self, host_id: int) -> Any:
        rows = await hotsql.read(self.store, hotsql.select_host, {"b_id": host_id})
        return rows[0] if rows else None

    async def _read_active(self, account_id: int) -> list[int]:
        return [int(r.id) for r in await hotsql.read(self.store, hotsql.active_hosts,
                                                      {"b_account": account_id})]

    async def _get(self, key: tuple[str, int], read: Callable[[int], Awaitable[Any]]) -> Any:
        hit = self._kept.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]

        async def read_and_keep() -> Any:
            generation = self._reads.generation
            value = await read(key[1])
            # a change while it was read: the value may be older than the change
            if generation == self._reads.generation:
                self._kept[key] = (value, time.monotonic() + self.ttl)
            return value

        return await self._reads.run(key, read_and_keep)

    def forget(self) -> None:
        self._kept.clear()
        self._reads.forget()

    async def on_change(self, rtype: Any, _row: Any) -> None:
        """A change listener: a host or agent changed on this server."""
        if getattr(rtype, "table", None) in (tables.host, tables.agent):
            self.forget()


__all__ = ["HostCache"]
