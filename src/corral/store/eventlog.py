"""The event log of the resumable stream (§7), kept in the ``event`` table.

``seq`` is the table's auto-increment key, so it only grows (SQLite uses
AUTOINCREMENT so that a purge never lets a seq be handed out again). Appends of one
server are serialised by the bus; the purge keeps the newest row, so ``last_seq`` is
always ``max(seq)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from corral.bus.log import EventLog
from corral.protocol.event import Event, from_wire, to_wire
from corral.store import tables
from corral.store.db import Store, now_millis

_t = tables.event


_insert_returning_seq = sa.insert(_t).returning(_t.c.seq, sort_by_parameter_order=True)


class StoreEventLog(EventLog):
    def __init__(self, store: Store) -> None:
        self.store = store

    async def append(self, event: Event) -> int:
        return (await self.append_many([event]))[0]

    async def append_many(self, events: Sequence[Event]) -> list[int]:
        if not events:
            return []
        created = now_millis()
        rows = [{"name": e.name, "created": created, "body": to_wire(e)} for e in events]

        async def insert(conn: Any) -> list[int]:
            return [int(r.seq) for r in await conn.insert_many(_insert_returning_seq, rows)]

        seqs = await self.store.group(insert)  # shared with the writes that arrive meanwhile
        for event, seq in zip(events, seqs, strict=True):
            event.seq = seq
        return seqs

    async def read_since(self, seq: int, limit: int) -> list[Event]:
        rows = await self.store.fetch_all(
            sa.select(_t.c.seq, _t.c.body).where(_t.c.seq > seq).order_by(_t.c.seq).limit(limit))
        out = []
        for r in rows:
            event = from_wire(r.body)
            event.seq = int(r.seq)
            out.append(event)
        return out

    async def oldest_seq(self) -> int | None:
        row = await self.store.fetch_one(sa.select(sa.func.min(_t.c.seq)))
        return None if row is None or row[0] is None else int(row[0])

    async def last_seq(self) -> int:
        row = await self.store.fetch_one(sa.select(sa.func.max(_t.c.seq)))
        return 0 if row is None or row[0] is None else int(row[0])

    async def purge_older_than(self, cutoff_millis: int, *, batch: int) -> int:
        """Delete up to ``batch`` events created before ``cutoff_millis``, never the newest."""
        newest = await self.last_seq()
        async with self.store.tx() as conn:
            ids = sa.select(_t.c.seq).where(_t.c.created < cutoff_millis, _t.c.seq < newest) \
                .order_by(_t.c.seq).limit(batch)
            result = await conn.execute(sa.delete(_t).where(_t.c.seq.in_(ids)))
            return int(result.rowcount or 0)
