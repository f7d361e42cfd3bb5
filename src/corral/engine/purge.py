"""The purge task (§6): finished processes, old container/service events and stream events.

Runs every ``cleanup.interval.seconds`` (read again before each run, and a change of
it starts a new wait at once). Deletes, in batches of ``cleanup.query_limit.rows``:

* finished process instances (``end_time`` set) older than
  ``process_instance.purge.after.seconds``, with their executions; unfinished ones are
  never touched;
* ``container_event`` / ``service_event`` rows older than ``events.purge.after.seconds``
  that no unfinished process is working on;
* persisted stream events older than ``events.purge.after.seconds`` (a subscriber
  resuming from before that gets ``resync.required``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from corral.engine.submit import now_ms
from corral.store import tables

log = logging.getLogger(__name__)

pi, pe = tables.process_instance, tables.process_execution

_SETTINGS = ("cleanup.interval.seconds",)


@dataclass(slots=True)
class PurgeCounts:
    process_instances: int = 0
    container_events: int = 0
    service_events: int = 0
    stream_events: int = 0


class PurgeTask:
    def __init__(self, services: Any, *, event_log: Any = None) -> None:
        self.services = services
        self.store = services.store
        self.event_log = event_log
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        services.settings.on_change(self._setting_changed)

    def _setting_changed(self, name: str, _value: str) -> None:
        if name in _SETTINGS:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            interval = self.services.settings.get_seconds("cleanup.interval.seconds")
            try:
                await asyncio.wait_for(self._wake.wait(), interval)
                continue  # the interval changed: wait the new one
            except TimeoutError:
                pass
            try:
                counts = await self.run_once()
                log.info("purge run %d: %s", self.runs, counts)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("purge failed; next run in %.0f s", interval)

    async def run_once(self) -> PurgeCounts:
        settings = self.services.settings
        batch = settings.get_int("cleanup.query_limit.rows")
        now = now_ms()
        counts = PurgeCounts()
        process_cutoff = now - settings.get_int("process_instance.purge.after.seconds") * 1000
        event_cutoff = now - settings.get_int("events.purge.after.seconds") * 1000
        while True:
            n = await self._purge_processes(process_cutoff, batch)
            counts.process_instances += n
            if n < batch:
                break
        for table, attr, rtype in ((tables.container_event, "container_events", "containerEvent"),
                                   (tables.service_event, "service_events", "serviceEvent")):
            while True:
                n = await self._purge_events(table, rtype, event_cutoff, batch)
                setattr(counts, attr, getattr(counts, attr) + n)
                if n < batch:
                    break
        if self.event_log is not None:
            while True:
                n = await self.event_log.purge_older_than(event_cutoff, batch=batch)
                counts.stream_events += n
                if n < batch:
                    break
        self.runs += 1
        return counts

    async def _purge_processes(self, cutoff: int, batch: int) -> int:
        async with self.store.tx() as conn:
            ids = [r.id for r in await conn.execute(
                sa.select(pi.c.id).where(pi.c.end_time.is_not(None), pi.c.end_time < cutoff)
                .order_by(pi.c.id).limit(batch))]
            if not ids:
                return 0
            await conn.execute(sa.delete(pe).where(pe.c.process_instance_id.in_(ids)))
            await conn.execute(sa.delete(pi).where(pi.c.id.in_(ids)))
            return len(ids)

    async def _purge_events(self, table: sa.Table, rtype: str, cutoff: int, batch: int) -> int:
        busy = sa.exists().where(pi.c.resource_type == rtype, pi.c.resource_id == table.c.id,
                                 pi.c.end_time.is_(None))
        async with self.store.tx() as conn:
            ids = [r.id for r in await conn.execute(
                sa.select(table.c.id).where(table.c.created < cutoff, ~busy)
                .order_by(table.c.id).limit(batch))]
            if not ids:
                return 0
            # their finished processes go with them
            await conn.execute(sa.delete(pe).where(pe.c.process_instance_id.in_(
                sa.select(pi.c.id).where(pi.c.resource_type == rtype,
                                         pi.c.resource_id.in_(ids)))))
            await conn.execute(sa.delete(pi).where(pi.c.resource_type == rtype,
                                                   pi.c.resource_id.in_(ids)))
            await conn.execute(sa.delete(table).where(table.c.id.in_(ids)))
            return len(ids)
