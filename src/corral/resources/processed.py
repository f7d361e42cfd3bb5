"""Resource types whose changes are processes (§4): create, actions and delete run in the pool.

A create writes the row in state ``requested`` and its ``<type>.create`` process in
the same transaction; an action writes the action's process; a DELETE writes
``<type>.remove`` (for a resource that must be stopped first: the stop, chained to
the remove). The pool does the rest; the resource shows ``transitioning`` meanwhile.
Actions are offered only in the states their process can start from.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from corral.api.context import Context
from corral.api.resource import Action, T, TableType
from corral.engine import definitions
from corral.engine.submit import submit
from corral.errors import ApiError
from corral.store import tables


def process_actions(resource_type: str) -> dict[str, Action]:
    """Every user-facing action of the type (its process's start states decide validity)."""
    out = {}
    for action, process_name in definitions.action_processes(resource_type).items():
        d = definitions.get(process_name)
        if d.internal:
            continue
        out[action] = Action(action, states=d.start_states)
    return out


class ProcessType(TableType):
    initial_state = "requested"
    # the processes a DELETE may run first, before the remove (e.g. stop a running instance)
    remove_via: ClassVar[tuple[str, ...]] = ("deactivate",)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "actions" not in cls.__dict__ and hasattr(cls, "name"):
            cls.actions = process_actions(cls.name)

    def valid_actions(self, ctx: Context, m: Any) -> list[str]:
        if m["transitioning"] != "no":  # a process holds the resource
            return []
        return [a for a in definitions.valid_actions(self.name, m["state"]) if a in self.actions]

    async def before_insert(self, ctx: Context, conn: AsyncConnection, row: dict[str, Any],
                            values: dict[str, Any]) -> None:
        if ctx.project_id is None and ctx.principal.is_admin:
            row["account_id"] = await cached_default_project(ctx.services.store, conn)
        if definitions.REGISTRY.create_process(self.name) is not None:
            row["transitioning"] = "yes"

    async def after_insert(self, ctx: Context, conn: AsyncConnection, row: Any,
                           out: dict[str, Any]) -> None:
        create = definitions.REGISTRY.create_process(self.name)
        if create is not None:
            await self.start_process(ctx, conn, create.name, row)

    async def start_process(self, ctx: Context, conn: AsyncConnection, process_name: str,
                            row: Any, data: dict[str, Any] | None = None) -> int:
        m = row._mapping
        return await submit(conn, process_name, resource_type=self.name, resource_id=m["id"],
                            account_id=m["account_id"], server_id=ctx.services.server_id,
                            data=data)

    async def create(self, ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
        out = await super().create(ctx, body)
        ctx.services.wake_engine()
        return out

    async def write(self, ctx: Context, op: Callable[[Any], Awaitable[T]]) -> T:
        """A create is a group commit: creates that arrive together, and the process
        pool's writes, are one transaction."""
        return await ctx.services.store.group(op)

    async def _run_process(self, ctx: Context, wire_id: str, process_name: str,
                           data: dict[str, Any] | None = None) -> dict[str, Any]:
        async with ctx.services.store.tx() as conn:
            row = await self.load(ctx, wire_id, conn)
            await self.start_process(ctx, conn, process_name, row, data)
            row = (await conn.execute(sa.update(self.table).where(
                self.table.c.id == row._mapping["id"]).values(transitioning="yes")
                .returning(self.table))).one()
        ctx.services.wake_engine()
        await ctx.services.changed(self, row)
        return self.render(ctx, row)

    async def action(self, ctx: Context, wire_id: str, name: str, body: dict[str, Any]
                     ) -> dict[str, Any]:
        act = self.actions.get(name)
        if act is None or (act.admin_only and not ctx.principal.is_admin):
            raise ApiError(f"{self.name} has no action {name!r}", status=404,
                           code="ActionNotAvailable", field_name="action")
        current = (await self.load(ctx, wire_id))._mapping
        if name not in self.valid_actions(ctx, current):
            raise ApiError(f"action {name} is not available while {self.name} {wire_id} is "
                           f"{current['state']}"
                           + (" and transitioning" if current["transitioning"] == "yes" else ""),
                           status=422, code="ActionNotAvailable", field_name="action")
        process_name = definitions.action_processes(self.name)[name]
        return await self._run_process(ctx, wire_id, process_name)

    async def delete(self, ctx: Context, wire_id: str) -> dict[str, Any]:
        state = (await self.load(ctx, wire_id))._mapping["state"]
        processes = definitions.action_processes(self.name)
        remove = processes.get("remove")
        if remove is not None and definitions.get(remove).can_start(state):
            return await self._run_process(ctx, wire_id, remove)
        for first in self.remove_via:
            name = processes.get(first)
            if name is not None and remove is not None and definitions.get(name).can_start(state):
                return await self._run_process(ctx, wire_id, name, {"chain": remove})
        raise ApiError(f"{self.name} {wire_id} cannot be removed while {state}", status=422,
                       code="InvalidState", field_name="state")


_a = tables.account
# built once: a statement object SQLAlchemy (and a group commit) compile once
_first_project = (sa.select(_a.c.id).where(_a.c.kind == "project", _a.c.state == "active")
                  .order_by(_a.c.id).limit(1))


async def default_project(conn: AsyncConnection) -> int:
    """Where an admin's creates land when no project is in the URL: the first project."""
    row = (await conn.execute(_first_project)).first()
    if row is None:
        raise ApiError("no active project: create one or use /v1/projects/<id>/…",
                       status=422, code="MissingRequired", field_name="projectId")
    return int(row.id)


# The default project, per store, for a short while: a create needs no lookup of its own.
# Changes of projects on this server clear it at once (``forget_default_project``, called
# by the change publisher); changes made on another server show after the TTL.
DEFAULT_PROJECT_TTL = 1.0
_default_projects: weakref.WeakKeyDictionary[Any, tuple[int, float]] = \
    weakref.WeakKeyDictionary()


async def cached_default_project(store: Any, conn: AsyncConnection) -> int:
    now = time.monotonic()
    hit = _default_projects.get(store)
    if hit is not None and hit[1] > now:
        return hit[0]
    project_id = await default_project(conn)
    _default_projects[store] = (project_id, now + DEFAULT_PROJECT_TTL)
    return project_id


def forget_default_project() -> None:
    _default_projects.clear()
