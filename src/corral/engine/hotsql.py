"""The engine's hot-path statements, built once with bind parameters.

A statement object built once and executed with a parameter dict keeps its (memoised)
cache key, so SQLAlchemy neither rebuilds nor recompiles it per attempt. UPDATE and
INSERT statements are built without ``.values()``: the SET/VALUES columns come from
the keys of the parameters (SQLAlchemy compiles and caches one form per key set).
Parameters that are not columns start with ``b_``.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import sqlalchemy as sa

from corral.store import tables

pi = tables.process_instance
pe = tables.process_execution


def _lock_free(stale: Any) -> Any:
    return sa.or_(pi.c.running_process_server_id.is_(None), pi.c.running_at < stale)


@functools.cache
def claim(for_update: bool) -> Any:
    """Claim the ready processes, oldest first by priority: one UPDATE of the rows a
    sub-select picks, returning them (params: b_now, b_stale, b_limit, b_server).

    On PostgreSQL the sub-select locks its rows ``FOR UPDATE SKIP LOCKED``, so servers
    claiming at once each get other rows."""
    stale = sa.bindparam("b_stale", type_=sa.BigInteger)
    now = sa.bindparam("b_now", type_=sa.BigInteger)
    cand = pi.alias("cand")
    other = pi.alias("other")
    # The resource lock: a process is claimable only if no older process of its resource
    # is unfinished and no other process of its resource is running on a live server.
    blocked = sa.exists().where(
        other.c.resource_type == cand.c.resource_type, other.c.resource_id == cand.c.resource_id,
        other.c.end_time.is_(None), other.c.id != cand.c.id,
        sa.or_(other.c.id < cand.c.id, other.c.running_at >= stale))
    ready = (
        sa.select(cand.c.id)
        .where(cand.c.end_time.is_(None), cand.c.run_after <= now,
               sa.or_(cand.c.running_process_server_id.is_(None), cand.c.running_at < stale),
               ~blocked)
        .order_by(cand.c.priority.desc(), cand.c.id)
        .limit(sa.bindparam("b_limit", type_=sa.Integer))
    )
    if for_update:
        ready = ready.with_for_update(of=cand, skip_locked=True)
    return (sa.update(pi)
            .where(pi.c.id.in_(ready.scalar_subquery()), pi.c.end_time.is_(None), _lock_free(stale))
            .values(running_process_server_id=sa.bindparam("b_server", type_=sa.String),
                    running_at=now)
            .returning(*pi.c))


@functools.cache
def insert_chained() -> Any:
    """Insert the process a chain asks for, claimed by this server at once unless other
    work on its resource waits (then the older request goes first and the chained one is
    claimed in its turn). Returns the row; it is claimed if ``running_process_server_id``
    is set.

    Params: the row's columns, b_rtype / b_rid (its resource again), b_parent (the
    process that chains), b_server, b_now.
    """
    other = pi.alias("other")
    waiting = sa.exists().where(
        other.c.resource_type == sa.bindparam("b_rtype", type_=sa.String),
        other.c.resource_id == sa.bindparam("b_rid", type_=sa.BigInteger),
        other.c.end_time.is_(None),
        other.c.id != sa.bindparam("b_parent", type_=sa.BigInteger))
    return (sa.insert(pi)
            .values(running_process_server_id=sa.case(
                        (waiting, sa.null()), else_=sa.bindparam("b_server", type_=sa.String)),
                    running_at=sa.case(
                        (waiting, sa.null()), else_=sa.bindparam("b_now", type_=sa.BigInteger)))
            .returning(*pi.c))


@functools.cache
def next_run_after() -> Any:
    return sa.select(sa.func.min(pi.c.run_after)).where(
        pi.c.end_time.is_(None), pi.c.running_process_server_id.is_(None))


async def seconds_until_next(conn: Any) -> float:
    """Seconds until the earliest waiting process may run (3600 when none waits)."""
    first = (await conn.execute(next_run_after())).scalar()
    if first is None:
        return 3600.0
    return max(0.0, (int(first) - time.time() * 1000) / 1000.0)


@functools.cache
def update_process() -> Any:
    """UPDATE process_instance SET <the param keys> WHERE id = :b_id."""
    return sa.update(pi).where(pi.c.id == sa.bindparam("b_id", type_=sa.BigInteger))


@functools.cache
def insert_execution() -> Any:
    return sa.insert(pe)


@functools.cache
def execution_ids() -> Any:
    """The ids of a process's execution rows, oldest first (param: b_pid)."""
    return (sa.select(pe.c.id)
            .where(pe.c.process_instance_id == sa.bindparam("b_pid", type_=sa.BigInteger))
            .order_by(pe.c.id))


@functools.cache
def delete_executions() -> Any:
    """Delete a process's execution rows with ids from :b_lo to :b_hi."""
    return sa.delete(pe).where(
        pe.c.process_instance_id == sa.bindparam("b_pid", type_=sa.BigInteger),
        pe.c.id.between(sa.bindparam("b_lo", type_=sa.BigInteger),
                        sa.bindparam("b_hi", type_=sa.BigInteger)))


@functools.cache
def select_resource(table: sa.Table) -> Any:
    return sa.select(table).where(table.c.id == sa.bindparam("b_id", type_=sa.BigInteger))


@functools.cache
def select_resource_data(table: sa.Table) -> Any:
    return sa.select(table.c.data).where(table.c.id == sa.bindparam("b_id", type_=sa.BigInteger))


@functools.cache
def update_resource(table: sa.Table) -> Any:
    """UPDATE <table> SET <the param keys> WHERE id = :b_id RETURNING *."""
    return (sa.update(table).where(table.c.id == sa.bindparam("b_id", type_=sa.BigInteger))
            .returning(table))


@functools.cache
def update_resource_if(table: sa.Table) -> Any:
    """As ``update_resource``, only while the row's state and transitioning are
    :b_state and :b_transitioning (what the attempt's decision was based on)."""
    return (sa.update(table).where(table.c.id == sa.bindparam("b_id", type_=sa.BigInteger),
                                   table.c.state == sa.bindparam("b_state", type_=sa.String),
                                   table.c.transitioning == sa.bindparam("b_transitioning",
                                                                          type_=sa.String))
            .returning(table))


async def read(store: Any, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
    """The rows of one read outside any transaction of the caller's.

    On PostgreSQL the connection runs it in autocommit (one statement is its own
    snapshot), which saves the BEGIN and ROLLBACK round trips of a read-only transaction.
    """
    async with store.engine.connect() as conn:
        if not store.is_sqlite:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return list((await conn.execute(stmt, params)).fetchall())


_h = tables.host
select_host = sa.select(_h).where(_h.c.id == sa.bindparam("b_id", type_=sa.BigInteger))
# the active hosts of a project that an agent owns, in id order (placement)
active_hosts = (sa.select(_h.c.id)
                .where(_h.c.account_id == sa.bindparam("b_account", type_=sa.BigInteger),
                       _h.c.state == "active", _h.c.agent_id.is_not(None))
                .order_by(_h.c.id))
