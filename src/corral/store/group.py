"""Group commit: ``store.group(op)``, the transaction of the hot paths.

Every process attempt writes twice (its start, its end), every create of a processed
resource once, every batch of ``resource.change`` events once. With a transaction each,
the server spends its time in BEGIN/COMMIT and in per-statement overhead, and on a busy
event loop every statement also waits a whole loop turn for its answer. The writer runs
the writes that arrive together in *one* transaction instead: ``await writer.run(op)``
queues ``op`` (an ``async`` function of a batch); a lane task takes every queued op,
runs them in one transaction, commits once, and then each caller gets its op's result.
A caller goes on only after its op is committed, as with a transaction of its own.

An op's batch offers ``execute(stmt, params)`` (the result of one statement) and
``later(stmt, params)``: a write whose result nobody reads (a process row's phase or
end, an execution log row), deferred to the end of the batch, where each statement form
runs once for all its rows (``executemany``). An op defers only writes that no later
statement of the same batch reads, and never two writes of the same row.

On PostgreSQL the ops of a batch run *concurrently* on one connection (several batches
at once, one connection each): the statements they are waiting for are sent together,
one pipelined round trip per statement form (asyncpg's ``fetchmany``/``executemany``),
so a batch costs as many round trips as its longest op has statements, not the sum over
its ops. Statements are SQLAlchemy constructs compiled once per parameter key set; an op
awaiting something else than a statement (a thread, say) holds its batch's commit, not
the other ops' statements. On SQLite (one connection, one thread) the ops run one after
the other through SQLAlchemy.

If any op raises, the transaction is rolled back and each op of the batch is run again
alone, in its own transaction, so one bad op fails only its own caller. Ops are
therefore written to be re-runnable: they do database work and build what they return,
and change no state that outlives them before the commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Ops per transaction at most, and transactions under way at once (each on a connection).
MAX_BATCH = 64
LANES = 8


class Rows:
    """The result of one statement run by a pipelined batch: the parts of SQLAlchemy's
    ``Result`` that ops use. Rows are ``Row``s (mappings with attribute access)."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[Row]) -> None:
        self._rows = rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def first(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def one(self) -> Row:
        if len(self._rows) != 1:
            raise LookupError(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def scalar_one(self) -> Any:
        return next(iter(self.one().values()))

    def scalar(self) -> Any:
        row = self.first()
        return None if row is None else next(iter(row.values()))

    def scalar_one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise LookupError(f"expected at most one row, got {len(self._rows)}")
        return self.scalar()

    def mappings(self) -> Rows:
        return self


class Row(dict):  # type: ignore[type-arg]
    """A result row: ``row["state"]``, ``row.state`` and ``row._mapping`` all work."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> Row:
        return self


class Batch:
    """The connection an op runs on (SQLAlchemy, one statement at a time)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._later: dict[tuple[int, frozenset[str]], tuple[Any, list[dict[str, Any]]]] = {}

    async def execute(self, stmt: Any, params: Any = None) -> Any:
        return await self.conn.execute(stmt, params)

    def later(self, stmt: Any, params: dict[str, Any]) -> None:
        """Run ``stmt`` with ``params`` at the end of the batch (no result)."""
        key = (id(stmt), frozenset(params))
        group = self._later.get(key)
        if group is None:
            self._later[key] = (stmt, [params])
        else:
            group[1].append(params)

    async def insert_many(self, stmt: Any, rows: list[dict[str, Any]]) -> list[Any]:
        """The RETURNING rows of an INSERT of ``rows``, in their order (``stmt`` returns
        with ``sort_by_parameter_order=True``)."""
        return list(await self.conn.execute(stmt, rows))

    async def run(self, ops: list[Op]) -> list[Any]:
        results = [await op(self) for op in ops]
        await self.flush()
        return results

    async def flush(self) -> None:
        later, self._later = self._later, {}
        for stmt, rows in later.values():
            await self.conn.execute(stmt, rows if len(rows) > 1 else rows[0])


class _Compiled:
    """One statement compiled for asyncpg for one parameter key set."""

    __slots__ = ("by_id", "compiled", "from_params", "order", "processors", "sql", "stmt")

    def __init__(self, stmt: Any, keys: frozenset[str], dialect: Any) -> None:
        self.stmt = stmt
        compiled = stmt.compile(dialect=dialect,
                                column_keys=sorted(k for k in keys if not k.startswith("b_")))
        if "POSTCOMPILE" in compiled.string:  # IN (…) of values held by the statement
            compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise TypeError("a pipelined batch does not run Python-side column defaults")
        self.compiled = compiled
        self.sql = compiled.string
        self.order = tuple(compiled.positiontup or ())
        self.from_params = all(name in keys for name in self.order)  # no value held
        self.processors = dict(compiled._bind_processors)
        returned = [c.key for c in getattr(stmt, "exported_columns", ())]
        # How rows of several executions are told apart: an INSERT returns one row per
        # execution, in order; a statement on ``id = :b_id`` that returns ``id`` is matched
        # by id; any other runs one execution per round trip.
        self.by_id = "b_id" in keys and "id" in returned
        if not self.by_id and not stmt.is_insert:
            self.by_id = None

    def args(self, params: dict[str, Any]) -> tuple[Any, ...]:
        # with the values the statement holds, if it holds any
        values = params if self.from_params else self.compiled.construct_params(params)
        out = []
        for name in self.order:
            value = values.get(name)
            proc = self.processors.get(name)
            out.append(value if proc is None or value is None else proc(value))
        return tuple(out)


_compiled: dict[tuple[int, frozenset[str]], _Compiled] = {}
_MAX_COMPILED = 512


def _compile(stmt: Any, keys: frozenset[str], dialect: Any) -> _Compiled:
    """Hot statements are built once, so their compiled form is kept by their id (the
    entry holds the statement: an id is not reused while it is kept)."""
    key = (id(stmt), keys)
    c = _compiled.get(key)
    if c is None or c.stmt is not stmt:
        if len(_compiled) >= _MAX_COMPILED:
            _compiled.clear()
        c = _compiled[key] = _Compiled(stmt, keys, dialect)
    return c


class PipelinedBatch(Batch):
    """The ops of a batch run together on one asyncpg connection (see the module doc)."""

    def __init__(self, apg: Any, dialect: Any) -> None:
        super().__init__(None)
        self.apg = apg
        self.dialect = dialect
        self._waiting: list[tuple[Any, dict[str, Any], asyncio.Future[Rows]]] = []
        self._arrived: asyncio.Future[None] | None = None

    async def execute(self, stmt: Any, params: Any = None) -> Any:
        fut: asyncio.Future[Rows] = asyncio.get_running_loop().create_future()
        self._waiting.append((stmt, params or {}, fut))
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)
        return await fut

    async def insert_many(self, stmt: Any, rows: list[dict[str, Any]]) -> list[Any]:
        results = await asyncio.gather(*(self.execute(stmt, r) for r in rows))
        return [r.one() for r in results]

    async def run(self, ops: list[Op]) -> list[Any]:
        tasks = [asyncio.ensure_future(op(self)) for op in ops]
        try:
            while True:
                await self._settle(tasks)
                failure = next((e for e in map(_failure, tasks) if e is not None), None)
                if failure is not None:
                    raise failure
                if self._waiting:
                    waiting, self._waiting = self._waiting, []
                    await self._send(waiting)
                    continue
                live = [t for t in tasks if not t.done()]
                if not live:
                    break
                # every live op awaits something else (a thread, a lock): wait for one of
                # them to send a statement or to end
                self._arrived = asyncio.get_running_loop().create_future()
                await asyncio.wait([*live, self._arrived], return_when=asyncio.FIRST_COMPLETED)
            await self.flush()
        finally:
            for t in tasks:
                t.cancel()
        return [t.result() for t in tasks]

    async def _settle(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Let the ops run until each has ended or waits, and no new statement came in the
        last loop turn (an op that waits for a statement is woken within one turn)."""
        seen = -1
        while len(self._waiting) != seen:
            seen = len(self._waiting)
            await asyncio.sleep(0)
            live = sum(1 for t in tasks if not t.done())
            if live == len(self._waiting):
                return


    async def _send(self, waiting: list[tuple[Any, dict[str, Any], asyncio.Future[Rows]]]) -> None:
        groups: dict[tuple[int, frozenset[str]], list[tuple[Any, dict[str, Any], Any]]] = {}
        for item in waiting:
            groups.setdefault((id(item[0]), frozenset(item[1])), []).append(item)
        for (_sid, keys), items in groups.items():
            c = _compile(items[0][0], keys, self.dialect)
            one_by_one = len(items) == 1 or c.by_id is None or (
                c.by_id and len({p["b_id"] for _s, p, _f in items}) < len(items))
            if one_by_one:
                for _stmt, params, fut in items:
                    rows = await self.apg.fetch(c.sql, *c.args(params))
                    fut.set_result(Rows([Row(r) for r in rows]))
                continue
            rows = await self.apg.fetchmany(c.sql, [c.args(p) for _s, p, _f in items])
            if c.by_id:
                found = {r["id"]: Row(r) for r in rows}
                for _stmt, params, fut in items:
                    row = found.get(params["b_id"])
                    fut.set_result(Rows([row] if row is not None else []))
            else:  # INSERT … RETURNING: one row per execution, in order
                for (_stmt, _params, fut), r in zip(items, rows, strict=True):
                    fut.set_result(Rows([Row(r)]))

    async def flush(self) -> None:
        later, self._later = self._later, {}
        for stmt, rows in later.values():
            c = _compile(stmt, frozenset(rows[0]), self.dialect)
            await self.apg.executemany(c.sql, [c.args(p) for p in rows])


Op = Callable[[Batch], Awaitable[Any]]


class GroupWriter:
    def __init__(self, store: Any, *, max_batch: int = MAX_BATCH, lanes: int | None = None,
                 pipelined: bool | None = None) -> None:
        self.store = store
        self.max_batch = max_batch
        self.lanes = lanes or (1 if store.is_sqlite else LANES)  # SQLite: one connection
        self.pipelined = (not store.is_sqlite) if pipelined is None else pipelined
        self._queue: list[tuple[Op, asyncio.Future[Any]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._draining = 0  # lane tasks that will still look at the queue
        self.batches = 0  # transactions committed (for tests and benches)
        self.ops = 0

    async def run(self, op: Callable[[Batch], Awaitable[T]]) -> T:
        """Run ``op`` in a transaction shared with the ops queued meanwhile."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.append((op, fut))
        if self._draining < self.lanes:
            self._draining += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await fut  # cancelled: the op is written (or not) all the same

    async def close(self) -> None:
        """Wait for the ops already queued to be written."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _drain(self) -> None:
        try:
            await self._drain_queue()
        finally:
            self._draining -= 1  # no await between the last look at the queue and here

    async def _drain_queue(self) -> None:
        while self._queue:
            batch = self._queue[:self.max_batch]
            del self._queue[:self.max_batch]
            ops = [op for op, _fut in batch]
            try:
                results = await self._together(ops)
            except asyncio.CancelledError as exc:  # this lane is cancelled: nobody waits in vain
                for _op, fut in batch:
                    _settle(fut, exc=exc)
                raise
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc=exc)
                    continue
                log.debug("a batch of %d writes failed (%r); running them one by one",
                          len(batch), exc)
                for op, fut in batch:
                    try:
                        (result,) = await self._together([op])
                    except Exception as one:
                        _settle(fut, exc=one)
                    else:
                        _settle(fut, result=result)
                continue
            for (_op, fut), result in zip(batch, results, strict=True):
                _settle(fut, result=result)

    async def _together(self, ops: list[Op]) -> list[Any]:
        if self.pipelined:
            async with self.store.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                apg = raw.driver_connection
                async with apg.transaction():
                    results = await PipelinedBatch(apg, self.store.engine.dialect).run(ops)
        else:
            async with self.store.tx() as conn:
                results = await Batch(conn).run(ops)
        self.batches += 1
        self.ops += len(ops)
        return results


def _settle(fut: asyncio.Future[Any], *, result: Any = None,
            exc: BaseException | None = None) -> None:
    if fut.done():  # its caller was cancelled
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


def _failure(task: asyncio.Task[Any]) -> BaseException | None:
    """What an ended op raised (None while it runs or when it returned)."""
    if not task.done():
        return None
    if task.cancelled():
        return asyncio.CancelledError("an op of the batch was cancelled")
    return task.exception()


__all__ = ["Batch", "GroupWriter", "PipelinedBatch", "Row", "Rows"]
