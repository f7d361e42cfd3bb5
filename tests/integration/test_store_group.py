"""Group commit (store/group.py) on SQLite and PostgreSQL: ops that arrive
together share one transaction, each caller gets its own op's result, deferred writes
land, and one failing op fails only its own caller with nothing of it written."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from corral.engine import hotsql
from corral.engine.submit import submit
from corral.store.group import Batch, GroupWriter
from corral.store import Store, tables

inst = tables.instance
pe = tables.process_execution


async def _instances(store: Store, n: int) -> list[int]:
    async with store.tx() as conn:
        account = (await conn.execute(sa.insert(tables.account).values(
            uuid=str(uuid.uuid4()), kind="project", name="p", state="active", created=1,
            transitioning="no", data={}).returning(tables.account.c.id))).scalar_one()
        ids = []
        for i in range(n):
            ids.append((await conn.execute(sa.insert(inst).values(
                uuid=str(uuid.uuid4()), kind="container", name=f"i{i}", state="stopped",
                created=1, transitioning="no", data={"n": i}, account_id=account,
            ).returning(inst.c.id))).scalar_one())
        for i in ids:  # a process row per instance (same id order), for execution rows
            _process_of[(store, i)] = await submit(conn, "instance.start", resource_type="instance",
                                                   resource_id=i, account_id=account)
    return ids


_process_of: dict[tuple[Store, int], int] = {}


async def _states(store: Store) -> dict[int, tuple[str, str]]:
    async with store.tx() as conn:
        rows = await conn.execute(sa.select(inst.c.id, inst.c.state, inst.c.transitioning))
        return {r.id: (r.state, r.transitioning) for r in rows}


def _start(store: Store, instance_id: int, expect: str = "stopped") -> Any:
    """An op as the pool writes them: a conditional resource update whose row it returns,
    and an execution row deferred to the end of the batch."""

    async def op(conn: Batch) -> Any:
        row = (await conn.execute(hotsql.update_resource_if(inst), {
            "b_id": instance_id, "b_state": expect, "b_transitioning": "no",
            "state": "starting", "transitioning": "yes"})).first()
        if row is not None:
            conn.later(hotsql.insert_execution(), {
                "process_instance_id": _process_of[(store, instance_id)], "created": 1,
                "log": {"i": instance_id}})
        return row

    return op


async def test_ops_that_arrive_together_share_one_transaction(store: Store) -> None:
    ids = await _instances(store, 40)
    writer = GroupWriter(store, lanes=1)
    rows = await asyncio.gather(*(writer.run(_start(store, i)) for i in ids))
    # each caller got the row of its own instance, as written
    assert [r._mapping["id"] for r in rows] == ids
    assert all(r.state == "starting" and r._mapping["data"] == {"n": n}
               for n, r in enumerate(rows))
    assert writer.ops == 40 and writer.batches <= 2  # the first may go alone
    assert set((await _states(store)).values()) == {("starting", "yes")}
    async with store.tx() as conn:
        logged = sorted(r.process_instance_id for r in await conn.execute(sa.select(pe)))
    assert logged == sorted(_process_of[(store, i)] for i in ids)


async def test_a_missed_condition_returns_no_row_to_that_op_only(store: Store) -> None:
    ids = await _instances(store, 6)
    writer = GroupWriter(store)
    # two of them expect a state the row is not in: their UPDATE matches nothing
    ops = [_start(store, i, "running" if n % 3 == 0 else "stopped") for n, i in enumerate(ids)]
    rows = await asyncio.gather(*(writer.run(op) for op in ops))
    assert [r is None for r in rows] == [n % 3 == 0 for n in range(6)]
    assert [r._mapping["id"] for r in rows if r is not None] == [i for n, i in enumerate(ids) if n % 3]
    states = await _states(store)
    assert [states[i][0] for i in ids] == ["stopped" if n % 3 == 0 else "starting"
                                          for n in range(6)]


async def test_a_failing_op_fails_alone_and_leaves_nothing_written(store: Store) -> None:
    ids = await _instances(store, 5)
    writer = GroupWriter(store, lanes=1)

    async def bad(conn: Batch) -> None:
        await conn.execute(hotsql.update_resource(inst), {"b_id": ids[2], "state": "broken"})
        raise RuntimeError("handler bug")

    ops = [_start(store, i) for i in ids]
    ops[2] = bad
    results = await asyncio.gather(*(writer.run(op) for op in ops), return_exceptions=True)
    assert isinstance(results[2], RuntimeError) and str(results[2]) == "handler bug"
    assert [r._mapping["id"] for n, r in enumerate(results) if n != 2] == ids[:2] + ids[3:]
    states = await _states(store)
    assert states[ids[2]] == ("stopped", "no")  # the failing op's write was rolled back
    assert all(states[i] == ("starting", "yes") for i in ids if i != ids[2])


async def test_a_database_error_in_one_op_fails_only_that_caller(store: Store) -> None:
    ids = await _instances(store, 4)
    writer = GroupWriter(store, lanes=1)

    async def duplicate_uuid(conn: Batch) -> None:
        taken = (await conn.execute(hotsql.select_resource(inst), {"b_id": ids[0]})).first()
        await conn.execute(hotsql.update_resource(inst), {"b_id": ids[1], "uuid": taken.uuid})

    ops: list[Any] = [_start(store, i) for i in ids[2:]] + [duplicate_uuid]
    results = await asyncio.gather(*(writer.run(op) for op in ops), return_exceptions=True)
    assert isinstance(results[-1], Exception)
    assert [r._mapping["id"] for r in results[:-1]] == ids[2:]
    states = await _states(store)
    assert states[ids[2]] == states[ids[3]] == ("starting", "yes")


@pytest.mark.parametrize("n", [1, 200])
async def test_every_deferred_write_lands(store: Store, n: int) -> None:
    ids = await _instances(store, n)
    writer = GroupWriter(store)

    def op(i: int) -> Any:
        async def run(conn: Batch) -> int:
            conn.later(hotsql.update_resource(inst), {"b_id": i, "name": f"renamed-{i}"})
            return i
        return run

    assert await asyncio.gather(*(writer.run(op(i)) for i in ids)) == ids
    async with store.tx() as conn:
        names = {r.id: r.name for r in await conn.execute(sa.select(inst.c.id, inst.c.name))}
    assert names == {i: f"renamed-{i}" for i in ids}


async def test_two_ops_writing_one_row_each_get_their_own_result(store: Store) -> None:
    (i,) = await _instances(store, 1)
    writer = GroupWriter(store, lanes=1)

    def rename(name: str) -> Any:
        async def op(conn: Batch) -> Any:
            return (await conn.execute(hotsql.update_resource(inst),
                                       {"b_id": i, "name": name})).one()
        return op

    rows = await asyncio.gather(*(writer.run(rename(n)) for n in ("a", "b", "c")))
    assert [r._mapping["name"] for r in rows] == ["a", "b", "c"]
    assert writer.batches <= 2
