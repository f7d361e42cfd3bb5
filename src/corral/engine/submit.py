"""Putting a process into the pool: one ``process_instance`` row, in the caller's transaction.

The API writes a resource and its process in one transaction, so a resource never
exists without the process that brings it to life, and nothing is half-written.
After the commit the caller wakes the pool (``services.engine.wake()``).
"""

from __future__ import annotations

import functools
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from corral.engine.definitions import get as get_definition
from corral.engine.statemachine import Phase
from corral.store import tables


def now_ms() -> int:
    return int(time.time() * 1000)


async def submit(conn: AsyncConnection, process_name: str, *, resource_type: str,
                 resource_id: int, account_id: int | None, server_id: str | None = None,
                 data: dict[str, Any] | None = None, run_after: int | None = None,
                 priority: int = 0) -> int:
    """Insert a process instance; returns its row id. Unknown process names raise."""
    result = await conn.execute(_insert_process(), process_values(
        process_name, resource_type=resource_type, resource_id=resource_id,
        account_id=account_id, server_id=server_id, data=data, run_after=run_after,
        priority=priority))
    return int(result.scalar_one())


def process_values(process_name: str, *, resource_type: str, resource_id: int,
                   account_id: int | None, server_id: str | None = None,
                   data: dict[str, Any] | None = None, run_after: int | None = None,
                   priority: int = 0) -> dict[str, Any]:
    """The columns of a new process instance row. Unknown process names raise."""
    definition = get_definition(process_name)
    if definition.resource_type != resource_type:
        raise ValueError(f"{process_name} runs on {definition.resource_type}, not {resource_type}")
    now = now_ms()
    return {
        "start_time": now, "process_name": process_name, "resource_type": resource_type,
        "resource_id": resource_id, "phase": Phase.REQUESTED.value, "priority": priority,
        "data": data or {}, "run_after": run_after if run_after is not None else now,
        "execution_count": 0, "start_process_server_id": server_id, "account_id": account_id,
    }


@functools.cache
def _insert_process() -> sa.Insert:
    """Built once: executed with a parameter dict, it keeps SQLAlchemy's cache key."""
    pi = tables.process_instance
    return sa.insert(pi).returning(pi.c.id)
