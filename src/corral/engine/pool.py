"""The process pool: claims ready processes from the database and runs their attempts.

One loop per server. It claims unfinished ``process_instance`` rows whose ``run_after``
has passed and that no live server is running; only the *oldest* unfinished process
of a resource is ever claimable, which is the resource lock (one process at a time
per resource, in the order they were asked for). A claim is one UPDATE of
``running_process_server_id`` of the rows a sub-select picks; on PostgreSQL it picks
them ``FOR UPDATE SKIP LOCKED`` so several servers share the pool; on SQLite the single
connection serialises claims. Every write (claim, an attempt's start and end) is an op of
the store's group commit (``Store.group``), sharing its transaction with the writes that
arrive meanwhile; ``engine/endings.py`` holds how an attempt ends.

A server refreshes ``running_at`` of the rows it runs; a row whose ``running_at`` is
older than ``process.running_delay.millis`` belongs to a dead server and is taken over
(replay after a crash). Between attempts the loop sleeps until the earliest
``run_after`` or ``process.replay.interval.seconds``, whichever is sooner, and is woken
at once when a process is submitted or finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, NamedTuple

import sqlalchemy as sa

from corral.engine import handlers as handler_registry
from corral.engine import hotsql
from corral.engine.attempt import Attempt, HandlerResult
from corral.engine.definitions import REGISTRY, ProcessDefinition
from corral.engine.endings import AttemptEndings
from corral.engine.hosts import HostCache
from corral.engine.log import ExecutionLog
from corral.engine.statemachine import (
    DELEGATE,
    ExitReason,
    Phase,
    Result,
    Verdict,
    decide_start,
    decide_success,
)
from corral.engine.submit import now_ms, process_values, submit
from corral.store import tables
from corral.store.group import Batch

log = logging.getLogger(__name__)

pi = tables.process_instance


# Claims are at least this far apart (seconds): work submitted meanwhile is claimed in one go.
CLAIM_INTERVAL = 0.002


class _Guess(NamedTuple):
    """What a new process expects of its resource (see ``_start``)."""

    id: int
    state: str
    transitioning: str


class _Started(NamedTuple):
    """An attempt whose start is written: what its handler and its end need."""

    process: Any
    definition: ProcessDefinition
    rtype: Any
    attempt_no: int
    decision: Any
    resource: Any
    log: ExecutionLog
    data: dict[str, Any]


class ProcessPool(AttemptEndings):
    def __init__(self, services: Any, *, server_id: str, concurrency: int = 256) -> None:
        self.services = services
        self.store = services.store
        self.hosts = HostCache(self.store)
        self.server_id = server_id
        self.concurrency = concurrency
        self.running: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._beat = asyncio.Event()  # a timing setting changed: recompute the heartbeat
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._loop()), loop.create_task(self._heartbeat())]
        self.services.settings.on_change(self._setting_changed)
        self.services.change_listeners.append(self.hosts.on_change)

    def _setting_changed(self, name: str, _value: str) -> None:
        # The loop and the heartbeat sleep for intervals computed from these settings;
        # a change takes effect at once (§6), not after the interval computed before it.
        if name in ("process.replay.interval.seconds", "process.running_delay.millis"):
            self._wake.set()
            self._beat.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for t in self._tasks:
            t.cancel()
        for t in list(self.running.values()):
            t.cancel()
        await asyncio.gather(*self._tasks, *self.running.values(), return_exceptions=True)
        # Let another server (or our next start) take the unfinished ones over at once.
        if self.running:
            with contextlib.suppress(Exception):
                async with self.store.tx() as conn:
                    await conn.execute(sa.update(pi).where(
                        pi.c.id.in_(list(self.running)), pi.c.end_time.is_(None),
                        pi.c.running_process_server_id == self.server_id,
                    ).values(running_process_server_id=None, running_at=None))

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        last_claim = 0.0
        while not self._stopping:
            gap = last_claim + CLAIM_INTERVAL - loop.time()
            if gap > 0:
                await asyncio.sleep(gap)
            last_claim = loop.time()
            self._wake.clear()
            wait = self.services.settings.get_seconds("process.replay.interval.seconds")
            try:
                room = self.concurrency - len(self.running)
                claimed, until_next = await self._claim(room) if room > 0 else ([], None)
                for row in claimed:
                    self._spawn(row)
                if until_next is not None:  # nothing more is due now: sleep until the next one
                    wait = min(wait, until_next)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("process pool loop failed; retrying")
                wait = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(wait, 0.005))

    async def _claim(self, limit: int) -> tuple[list[Any], float | None]:
        """The rows claimed, and when fewer than ``limit`` were due, the seconds until the
        next waiting one may run (read in the same transaction)."""
        now = now_ms()
        stale = now - self.services.settings.get_int("process.running_delay.millis")

        async def op(conn: Batch) -> tuple[list[Any], float | None]:
            rows = list((await conn.execute(hotsql.claim(not self.store.is_sqlite), {
                "b_now": now, "b_stale": stale, "b_limit": limit,
                "b_server": self.server_id})).mappings())
            return rows, (await hotsql.seconds_until_next(conn) if len(rows) < limit else None)

        rows, until_next = await self.store.group(op)
        # one of ours whose running_at went stale (a stalled loop) is not run twice
        return [r for r in rows if r["id"] not in self.running], until_next

    def _spawn(self, row: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._run(row))
        self.running[row["id"]] = task

        def done(_t: asyncio.Task[None], pid: int = row["id"]) -> None:
            self.running.pop(pid, None)
            self._wake.set()

        task.add_done_callback(done)

    async def _heartbeat(self) -> None:
        while not self._stopping:
            delay = max(0.05, self.services.settings.get_seconds("process.running_delay.millis")
                        / 3)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._beat.wait(), delay)
            self._beat.clear()
            if self.running:
                with contextlib.suppress(Exception):
                    async with self.store.tx() as conn:
                        await conn.execute(sa.update(pi).where(
                            pi.c.id.in_(list(self.running)),
                            pi.c.running_process_server_id == self.server_id,
                        ).values(running_at=now_ms()))

    # ------------------------------------------------------------------ one attempt

    async def _run(self, process: Any) -> None:
        task = asyncio.current_task()
        assert task is not None
        started = None
        while process is not None:
            try:
                chained = await self.run_attempt(process, started)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("attempt of process %s crashed", process["id"])
                return
            self.running.pop(process["id"], None)
            started = chained
            process = chained.process if chained is not None else None
            if process is not None:
                self.running[process["id"]] = task

    async def run_attempt(self, process: Any, started: _Started | None = None) -> Any:
        """One attempt of ``process``; returns the chained process's attempt, already started
        in the transaction that finished this one, when the chained process was claimed here.

        ``started``: this attempt, when it was started so (its start is then not repeated).
        """
        if started is None:
            started = await self.store.group(lambda b: self._start(b, process))
            if started is None:
                return None
            await self._started(started)
        s = started
        handler = handler_registry.get(s.definition.name)
        attempt = Attempt(self.services, s.definition, {**process, "data": s.data}, s.rtype,
                          s.resource._mapping, s.log, self.server_id)
        try:
            outcome = await handler(attempt) if handler is not None else None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._after_error(attempt, s.decision.transitioning_state, s.attempt_no, exc)
            return None
        return await self._succeed(attempt, s.decision.transitioning_state, s.attempt_no,
                                   outcome or HandlerResult())

    async def _started(self, s: _Started) -> None:
        if s.decision.state_to_write is not None:
            await self.services.changed(s.rtype, s.resource)

    async def _start(self, conn: Batch, process: Any, hint: Any = None) -> _Started | None:
        """Start an attempt of ``process`` in ``conn`` (an op of a group commit): the resource
        goes transitioning and the process row STARTED. None when the process ended there (no handler to run).

        ``hint``: the resource row as it is believed to be (the row a chaining process just
        wrote; for a new process, its one start state and transitioning). The resource is
        then written with one UPDATE conditional on the state and transitioning the decision
        was made on, and read first only when that finds it changed."""
        definition = REGISTRY.get(process["process_name"])
        rtype = self.services.registry.get(definition.resource_type)
        table = rtype.table
        attempt_no = int(process["execution_count"]) + 1

        def fresh() -> tuple[ExecutionLog, dict[str, Any]]:
            elog = ExecutionLog(process_name=definition.name,
                                resource_type=definition.resource_type,
                                resource_id=process["resource_id"])
            elog.begin_attempt(attempt=attempt_no, server_id=self.server_id, time=time.time())
            return elog, dict(process["data"] or {})

        if hint is None and attempt_no == 1 and len(definition.start_states) == 1:
            (start,) = definition.start_states
            hint = _Guess(process["resource_id"], start, "yes")
        resource = None
        if hint is not None:
            elog, data = fresh()
            decision, values = self._start_values(definition, hint, elog, data)
            if decision.run_handlers and values:
                resource = (await conn.execute(hotsql.update_resource_if(table), {
                    "b_id": hint.id, "b_state": hint.state,
                    "b_transitioning": hint.transitioning, **values})).first()
        if resource is None:
            elog, data = fresh()
            resource = (await conn.execute(hotsql.select_resource(table),
                                           {"b_id": process["resource_id"]})).first()
            decision, values = self._start_values(definition, resource, elog, data)
            if values:
                resource = (await conn.execute(hotsql.update_resource(table),
                                               {"b_id": resource.id, **values})).one()
        if not decision.run_handlers:
            reason = decision.exit_reason or ExitReason.CANCELED
            elog.note(f"resource is {decision.origin_state}: {reason}", time=time.time())
            elog.end_attempt(exit_reason=reason, time=time.time())
            result = Result.SUCCESS if decision.verdict is Verdict.ALREADY_DONE \
                else Result.CANCELED
            await self._finish(conn, process, attempt_no, reason, result, elog)
            return None
        conn.later(hotsql.update_process(), {
            "b_id": process["id"], "execution_count": attempt_no,
            "phase": Phase.STARTED.value, "data": data})
        return _Started(process, definition, rtype, attempt_no, decision, resource, elog, data)

    @staticmethod
    def _start_values(definition: ProcessDefinition, resource: Any, elog: ExecutionLog,
                      data: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The start decision on ``resource`` and the resource values it writes."""
        decision = decide_start(definition, resource.state if resource else None)
        if not decision.run_handlers:
            return decision, {}
        # an error shown by an earlier attempt stays visible until the process ends
        values: dict[str, Any] = {} if resource.transitioning == "error" \
            else {"transitioning": "yes"}
        if decision.state_to_write is not None:
            values["state"] = decision.state_to_write
            elog.transition(decision.origin_state, decision.state_to_write, time=time.time())
            data.setdefault("originState", decision.origin_state)
        return decision, values

    async def _succeed(self, a: Attempt, transitioning_state: str | None, attempt_no: int,
                       outcome: HandlerResult) -> Any:
        definition, table, process = a.definition, a.rtype.table, a.process
        assert transitioning_state is not None
        chain = outcome.chain
        if chain is DELEGATE and "chain" in a.data:  # asked for when the process was submitted
            chain = a.data["chain"]
        completion = decide_success(definition, transitioning_state, chain=chain)
        now = time.time()
        base = {"transitioning": "yes" if completion.chain else "no",
                "transitioning_message": None, "transitioning_progress": None}
        if completion.state_to_write is not None:
            base["state"] = completion.state_to_write
            a.log.transition(transitioning_state, completion.state_to_write, time=now)
            if completion.state_to_write == "removed":
                base["removed"] = now_ms()
        if completion.chain:
            a.log.note(f"chains to {completion.chain}", time=now)
        a.log.end_attempt(exit_reason=completion.exit_reason, time=now)

        async def op(conn: Batch) -> tuple[Any, _Started | None]:
            values = {**await a.field_values(conn, outcome.fields), **base}
            row = (await conn.execute(hotsql.update_resource(table),
                                      {"b_id": process["resource_id"], **values})).one()
            chained = None
            if completion.chain:
                claimed = await self._submit_chained(conn, completion.chain, a)
                if claimed is not None:  # started here too: one transaction less
                    chained = await self._start(conn, claimed, row)
            await self._after_done(conn, a)
            await self._finish(conn, process, attempt_no, completion.exit_reason,
                               Result.SUCCESS, a.log)
            return row, chained

        row, chained = await self.store.group(op)
        await self.services.changed(a.rtype, row)
        if chained is not None:
            await self._started(chained)
        return chained

    async def _submit_chained(self, conn: Batch, name: str, a: Attempt) -> Any:
        """Insert the process a chain asks for; its row if this server claimed it at once
        (no other work on the resource waits), else None (it is claimed in its turn)."""
        process = a.process
        what: dict[str, Any] = {
            "resource_type": a.definition.resource_type, "resource_id": process["resource_id"],
            "account_id": process["account_id"], "server_id": self.server_id,
            "priority": process["priority"],
            "data": {k: v for k, v in a.data.items() if k not in ("originState", "chain")}}
        if self._stopping:
            await submit(conn, name, **what)
            return None
        values = process_values(name, **what)
        row = (await conn.execute(hotsql.insert_chained(), {
            **values, "b_rtype": values["resource_type"], "b_rid": values["resource_id"],
            "b_parent": process["id"], "b_server": self.server_id, "b_now": now_ms()})).one()
        return row._mapping if row._mapping["running_process_server_id"] is not None else None

    async def _after_done(self, conn: Batch, a: Attempt) -> None:
        """Follow-ups in the finishing transaction: the purge after a remove."""
        d = a.definition
        if d.name.endswith(".remove") and REGISTRY.find(f"{d.resource_type.lower()}.purge"):
            delay = self.services.settings.get_int("resource.purge.delay.seconds") * 1000
            await submit(conn, f"{d.resource_type.lower()}.purge", resource_type=d.resource_type,
                         resource_id=a.process["resource_id"], account_id=a.process["account_id"],
                         server_id=self.server_id, run_after=now_ms() + delay)


__all__ = ["DELEGATE", "ProcessPool"]
