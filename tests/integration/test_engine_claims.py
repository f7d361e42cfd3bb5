"""The pool's claim statements on SQLite and PostgreSQL: the resource lock (only the
oldest unfinished process of a resource is claimable), claims of two servers at once
never share a row, and a chained process is claimed at once only when no other work on
its resource waits."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from corral.engine import hotsql
from corral.engine.submit import now_ms, process_values, submit
from corral.store import Store, tables

pi = tables.process_instance


async def _submit(store: Store, name: str, resource_id: int) -> int:
    async with store.tx() as conn:
        return await submit(conn, name, resource_type="instance", resource_id=resource_id,
                            account_id=None)


async def _claim(store: Store, server: str, limit: int = 100) -> list[int]:
    async def op(conn: Any) -> list[int]:
        rows = await conn.execute(hotsql.claim(not store.is_sqlite), {
            "b_now": now_ms(), "b_stale": now_ms() - 60_000, "b_limit": limit,
            "b_server": server})
        return sorted(int(r._mapping["id"]) for r in rows)

    return await store.group(op)


async def test_only_the_oldest_process_of_a_resource_is_claimed(store: Store) -> None:
    first = await _submit(store, "instance.start", 1)
    await _submit(store, "instance.stop", 1)  # waits for the first: same resource
    other = await _submit(store, "instance.start", 2)
    assert await _claim(store, "a") == [first, other]
    assert await _claim(store, "b") == []  # claimed by a, which is alive
    async with store.tx() as conn:
        await conn.execute(sa.update(pi).where(pi.c.id == first).values(
            end_time=now_ms(), running_process_server_id=None))
    assert len(await _claim(store, "b")) == 1  # the stop, now the oldest of resource 1


async def test_claims_at_once_never_share_a_row(store: Store) -> None:
    ids = [await _submit(store, "instance.start", r) for r in range(1, 41)]
    got = await asyncio.gather(*(_claim(store, f"s{n}", limit=7) for n in range(8)))
    claimed = [i for g in got for i in g]
    assert sorted(claimed) == ids  # each once, none left
    async with store.tx() as conn:
        owners = {r.id: r.running_process_server_id
                  for r in await conn.execute(sa.select(pi.c.id, pi.c.running_process_server_id))}
    for n, g in enumerate(got):
        assert all(owners[i] == f"s{n}" for i in g)


async def _insert_chained(store: Store, parent: int, resource_id: int) -> Any:
    values = process_values("instance.start", resource_type="instance",
                            resource_id=resource_id, account_id=None, server_id="a")

    async def op(conn: Any) -> Any:
        return (await conn.execute(hotsql.insert_chained(), {
            **values, "b_rtype": "instance", "b_rid": resource_id, "b_parent": parent,
            "b_server": "a", "b_now": now_ms()})).one()._mapping

    return await store.group(op)


async def test_a_chained_process_is_claimed_at_once_unless_other_work_waits(store: Store) -> None:
    parent = await _submit(store, "instance.create", 1)
    alone = await _insert_chained(store, parent, 1)
    assert alone["running_process_server_id"] == "a" and alone["running_at"] is not None

    parent2 = await _submit(store, "instance.create", 2)
    queued = await _submit(store, "instance.stop", 2)  # asked for before the chain
    chained = await _insert_chained(store, parent2, 2)
    assert chained["running_process_server_id"] is None and chained["running_at"] is None
    assert chained["id"] > queued  # so the stop is claimed first, the chain in its turn
