"""The host rows the engine reads for every instance, kept for a short while.

Every instance start needs its host (the agent to send to, the host part of the event)
and every placement needs the project's active hosts. Hosts change seldom, so the pool
keeps what it read for ``TTL`` seconds: changes made on this server (any host change
goes through ``services.changed``) drop the cache at once; a change made by another
server shows here after at most ``TTL``.
"""

from __future__ import annotations

import time
from typing import Any

from corral.engine import hotsql
from corral.store import tables

TTL = 1.0


class HostCache:
    def __init__(self, store: Any, *, ttl: float = TTL) -> None:
        self.store = store
        self.ttl = ttl
        self._hosts: dict[int, tuple[Any, float]] = {}
        self._active: dict[int, tuple[list[int], float]] = {}

    async def host(self, host_id: int) -> Any:
        """The host's row, or None when there is no such host."""
        now = time.monotonic()
        hit = self._hosts.get(host_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        rows = await hotsql.read(self.store, hotsql.select_host, {"b_id": host_id})
        row = rows[0] if rows else None
        self._hosts[host_id] = (row, now + self.ttl)
        return row

    async def active_ids(self, account_id: int) -> list[int]:
        """The ids of the project's active hosts that an agent owns, in id order."""
        now = time.monotonic()
        hit = self._active.get(account_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        ids = [int(r.id) for r in await hotsql.read(self.store, hotsql.active_hosts,
                                                     {"b_account": account_id})]
        self._active[account_id] = (ids, now + self.ttl)
        return ids

    def forget(self) -> None:
        self._hosts.clear()
        self._active.clear()

    async def on_change(self, rtype: Any, _row: Any) -> None:
        """A change listener: a host or agent changed on this server."""
        if getattr(rtype, "table", None) in (tables.host, tables.agent):
            self.forget()


__all__ = ["HostCache"]
