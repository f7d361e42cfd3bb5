"""Agent liveness (§10): a ``ping`` call to every agent each ``agent.ping.interval.millis``.

An agent answers with its host's facts (and, when asked, its instances). One that misses
``agent.ping.missed.max`` pings in a row while ``active`` gets an ``agent.reconnect``
process: the agent shows ``reconnecting``, and the process keeps pinging (with backoff)
until the agent answers again, then the agent is ``active`` again. When an agent
subscribes, its reconnect process and the processes waiting on its hosts are run at once
instead of after their backoff.

This server pings every agent; with one server that is every agent there is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import sqlalchemy as sa

from corral.engine.submit import now_ms, submit
from corral.errors import CallTimeout, CorralError
from corral.protocol.event import Event
from corral.protocol.ids import format_id
from corral.store import tables

log = logging.getLogger(__name__)

PINGED_STATES = ("active",)


def ping_event(agent_id: int, *, instances: bool = True) -> Event:
    return Event.new(f"ping;agent={agent_id}", resource_type="agent",
                     resource_id=format_id("agent", agent_id),
                     data={"options": {"stats": False, "resources": True,
                                       "instances": instances}})


class AgentPinger:
    def __init__(self, services: Any) -> None:
        self.services = services
        self.missed: dict[int, int] = {}
        self._inflight: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        services.settings.on_change(self._setting_changed)

    def _setting_changed(self, name: str, _value: str) -> None:
        if name == "agent.ping.interval.millis":
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._calls) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            interval = self.services.settings.get_seconds("agent.ping.interval.millis")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
                continue
            try:
                await self.ping_all()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("agent ping round failed")

    async def ping_all(self) -> None:
        ag = tables.agent
        rows = await self.services.store.fetch_all(
            sa.select(ag.c.id).where(ag.c.state.in_(PINGED_STATES), ag.c.removed.is_(None)))
        loop = asyncio.get_running_loop()
        for row in rows:
            if row.id in self._inflight:
                continue  # the last ping is still waiting for its answer
            self._inflight.add(row.id)
            task = loop.create_task(self._ping(int(row.id)))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    async def _ping(self, agent_id: int) -> None:
        settings = self.services.settings
        try:
            await self.services.bus.call(ping_event(agent_id),
                                         timeout=settings.get_seconds("agent.ping.timeout.millis"))
            self.missed.pop(agent_id, None)
        except (CallTimeout, CorralError):
            self.missed[agent_id] = missed = self.missed.get(agent_id, 0) + 1
            if missed >= settings.get_int("agent.ping.missed.max"):
                await self._reconnect(agent_id)
        finally:
            self._inflight.discard(agent_id)

    async def _reconnect(self, agent_id: int) -> None:
        ag, pi = tables.agent, tables.process_instance
        async with self.services.store.tx() as conn:
            row = (await conn.execute(sa.select(ag.c.state, ag.c.account_id)
                                      .where(ag.c.id == agent_id))).first()
            busy = (await conn.execute(sa.select(pi.c.id).where(
                pi.c.resource_type == "agent", pi.c.resource_id == agent_id,
                pi.c.end_time.is_(None)).limit(1))).first()
            if row is None or row.state != "active" or busy is not None:
                return
            log.warning("agent %s missed %d pings: reconnecting", agent_id,
                        self.missed.get(agent_id, 0))
            await submit(conn, "agent.reconnect", resource_type="agent", resource_id=agent_id,
                         account_id=row.account_id, server_id=self.services.server_id)
        self.missed.pop(agent_id, None)
        self.services.wake_engine()


async def agent_connected(services: Any, agent_id: int) -> None:
    """An agent subscribed: run its reconnect and the work waiting on its hosts now."""
    pi, i, h = tables.process_instance, tables.instance, tables.host
    on_its_hosts = sa.select(i.c.id).join(h, h.c.id == i.c.host_id).where(h.c.agent_id == agent_id)
    async with services.store.tx() as conn:
        result = await conn.execute(sa.update(pi).where(
            pi.c.end_time.is_(None), pi.c.running_process_server_id.is_(None),
            sa.or_(sa.and_(pi.c.resource_type == "agent", pi.c.resource_id == agent_id),
                   sa.and_(pi.c.resource_type == "instance", pi.c.resource_id.in_(on_its_hosts))),
        ).values(run_after=now_ms()))
    if result.rowcount:
        services.wake_engine()
