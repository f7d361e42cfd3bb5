"""Admin views of the pool (§5): processInstance, processExecution, processSummary."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from corral.api.context import Context
from corral.api.fields import Field
from corral.api.query import CollectionQuery
from corral.api.resource import Action, ResourceType, TableType, forbid_unless_admin, iso
from corral.engine.statemachine import Phase
from corral.protocol.ids import PREFIXES, format_id
from corral.store import tables
from corral.store.db import now_millis

pi = tables.process_instance


class ProcessInstanceType(TableType):
    name = "processInstance"
    plural = "processinstances"
    table = pi
    id_type = "processInstance"
    kinds = ()
    collection_methods = ("GET",)
    resource_methods = ("GET",)
    fields = (
        Field("id", "string", column="id", filter=True, nullable=False),
        Field("processName", "string", column="process_name", filter=True),
        Field("resourceType", "string", column="resource_type", filter=True),
        Field("resourceId", "string", column="resource_id", filter=True),
        Field("phase", "enum", column="phase", filter=True, options=tuple(p.value for p in Phase)),
        Field("exitReason", "string", column="exit_reason", filter=True),
        Field("result", "enum", column="result", filter=True,
              options=("SUCCESS", "FAILURE", "CANCELED")),
        Field("startTime", "date", column="start_time"),
        Field("endTime", "date", column="end_time", filter=True),
        Field("runAfter", "date", column="run_after"),
        Field("executionCount", "int", column="execution_count", filter=True),
        Field("priority", "int", column="priority", filter=True),
        Field("runningProcessServerId", "string", column="running_process_server_id",
              filter=True),
        Field("startProcessServerId", "string", column="start_process_server_id"),
        Field("accountId", "reference[project]", column="account_id", filter=True),
        Field("data", "json", column="data"),
    )
    actions = {"replay": Action("replay", admin_only=True)}

    def filters(self) -> dict[str, Field]:
        return {n: f for n, f in super().filters().items() if n != "resourceId"} | {
            "resourceId": Field("resourceId", "int", column="resource_id", filter=True)}

    def render(self, ctx: Context, row: Any) -> dict[str, Any]:
        out = super().render(ctx, row)
        m = row._mapping
        rtype = m["resource_type"]
        out["resourceId"] = format_id(rtype, m["resource_id"]) if rtype in PREFIXES \
            else str(m["resource_id"])
        out["executionsLink"] = f"{ctx.base_url}/processexecutions?processInstanceId={out['id']}"
        out["links"]["processExecutions"] = out["executionsLink"]
        return out

    def valid_actions(self, ctx: Context, m: Any) -> list[str]:
        return ["replay"] if ctx.principal.is_admin and m["end_time"] is None else []

    async def do_replay(self, ctx: Context, wire_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Run an unfinished process again now, with a fresh attempt count."""
        forbid_unless_admin(ctx, "replay processes")
        async with ctx.services.store.tx() as conn:
            row = await self.load(ctx, wire_id, conn)
            if row._mapping["end_time"] is not None:
                from corral.errors import ApiError

                raise ApiError("the process has finished", status=422, code="InvalidState",
                               field_name="endTime")
            row = (await conn.execute(sa.update(pi).where(pi.c.id == row._mapping["id"]).values(
                run_after=now_millis(), execution_count=0).returning(pi))).one()
        ctx.services.wake_engine()
        return self.render(ctx, row)


class ProcessExecutionType(TableType):
    name = "processExecution"
    plural = "processexecutions"
    table = tables.process_execution
    id_type = "processExecution"
    kinds = ()
    scoped = False
    admin_only = True
    collection_methods = ("GET",)
    resource_methods = ("GET",)
    fields = (
        Field("id", "string", column="id", filter=True, nullable=False),
        Field("processInstanceId", "reference[processInstance]", column="process_instance_id",
              filter=True),
        Field("created", "date", column="created"),
        Field("log", "json", column="log"),
    )


class ProcessSummaryType(ResourceType):
    """Per process name: how many are running, ready (due now) and delayed (waiting)."""

    name = "processSummary"
    plural = "processsummary"
    admin_only = True
    fields = (
        Field("id", "string"), Field("processName", "string"), Field("running", "int"),
        Field("ready", "int"), Field("delayed", "int"),
    )

    async def list(self, ctx: Context, q: CollectionQuery) -> tuple[list[dict[str, Any]], bool]:
        now = int(time.time() * 1000)
        running = pi.c.running_process_server_id.is_not(None)
        stmt = (sa.select(
            pi.c.process_name,
            sa.func.sum(sa.case((running, 1), else_=0)),
            sa.func.sum(sa.case((sa.and_(~running, pi.c.run_after <= now), 1), else_=0)),
            sa.func.sum(sa.case((sa.and_(~running, pi.c.run_after > now), 1), else_=0)),
        ).where(pi.c.end_time.is_(None)).group_by(pi.c.process_name)
            .order_by(pi.c.process_name))
        rows = await ctx.services.store.fetch_all(stmt)
        data = [{"id": r[0], "type": self.name, "processName": r[0], "running": int(r[1] or 0),
                 "ready": int(r[2] or 0), "delayed": int(r[3] or 0), "links": {}, "actions": {}}
                for r in rows]
        return data, False


__all__ = ["ProcessExecutionType", "ProcessInstanceType", "ProcessSummaryType", "iso"]
