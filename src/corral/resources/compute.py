"""The types an environment is made of: agents, hosts, instances, volumes, stacks, services,
and the events agents report about them. Every change to them is a process."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from corral.api.context import Context
from corral.api.fields import Field
from corral.api.resource import common_fields
from corral.resources.processed import ProcessType
from corral.store import tables

_PROJECT = Field("accountId", "reference[project]", column="account_id", filter=True)


class AgentType(ProcessType):
    name = "agent"
    plural = "agents"
    table = tables.agent
    id_type = "agent"
    kinds = ("agent",)
    admin_only = True
    fields = (*common_fields(), _PROJECT,
              Field("uri", "string", column="uri", create=True, max_length=255))


class HostType(ProcessType):
    name = "host"
    plural = "hosts"
    table = tables.host
    id_type = "host"
    kinds = ("host",)
    fields = (*common_fields(), _PROJECT,
              Field("agentId", "reference[agent]", column="agent_id", filter=True),
              Field("hostname", "string", max_length=255),
              Field("agentState", "string"))


class InstanceType(ProcessType):
    name = "instance"
    plural = "instances"
    table = tables.instance
    id_type = "instance"
    kinds = ("container",)
    remove_via = ("stop",)
    fields = (
        *common_fields(), _PROJECT,
        Field("hostId", "reference[host]", column="host_id", create=True, filter=True,
              description="where to run it; default: the active host with the fewest instances"),
        Field("externalId", "string", column="external_id", filter=True,
              description="the runtime's id of the instance (the OS pid for local processes)"),
        Field("command", "array[string]", create=True, update=True, max_length=4096),
        Field("environment", "map[string]", create=True, update=True, max_length=65536),
        Field("workingDir", "string", create=True, update=True, max_length=4096),
        Field("labels", "map[string]", create=True, update=True, max_length=4096),
        Field("volumes", "array[string]", create=True, max_length=4096),
        Field("startOnCreate", "boolean", create=True, default=True),
        Field("exitCode", "int"),
    )


class VolumeType(ProcessType):
    name = "volume"
    plural = "volumes"
    table = tables.volume
    id_type = "volume"
    kinds = ("volume",)
    fields = (*common_fields(), _PROJECT,
              Field("hostId", "reference[host]", column="host_id", create=True, filter=True))


class StackType(ProcessType):
    name = "stack"
    plural = "stacks"
    table = tables.stack
    id_type = "stack"
    kinds = ("stack",)
    fields = (*common_fields(), _PROJECT)


class ServiceType(ProcessType):
    name = "service"
    plural = "services"
    table = tables.service
    id_type = "service"
    kinds = ("service",)
    fields = (*common_fields(), _PROJECT,
              Field("stackId", "reference[stack]", column="stack_id", create=True, filter=True),
              Field("scale", "int", create=True, update=True, min=0, max=1000, default=1),
              Field("launchConfig", "json", create=True, update=True),
              Field("startOnCreate", "boolean", create=True, default=False))


class ContainerEventType(ProcessType):
    name = "containerEvent"
    plural = "containerevents"
    table = tables.container_event
    id_type = "containerEvent"
    kinds = ("containerEvent",)
    fields = (*common_fields(name_create=False), _PROJECT,
              Field("hostId", "reference[host]", column="host_id", filter=True),
              Field("externalId", "string", column="external_id", create=True, required=True,
                    nullable=False, max_length=255, filter=True),
              Field("externalStatus", "enum", column="external_status", create=True,
                    required=True, nullable=False, options=("start", "stop", "die", "kill"),
                    filter=True),
              Field("exitCode", "int", create=True))


    async def before_insert(self, ctx: Context, conn: AsyncConnection, row: dict[str, Any],
                            values: dict[str, Any]) -> None:
        """An agent reports about its own host: the event is tied to that host."""
        await super().before_insert(ctx, conn, row, values)
        agent_id = ctx.principal.agent_id
        if agent_id is not None:
            h = tables.host
            host = (await conn.execute(sa.select(h.c.id).where(h.c.agent_id == agent_id)
                                       .order_by(h.c.id).limit(1))).first()
            row["host_id"] = host.id if host is not None else None


class ServiceEventType(ProcessType):
    name = "serviceEvent"
    plural = "serviceevents"
    table = tables.service_event
    id_type = "serviceEvent"
    kinds = ("serviceEvent",)
    fields = (*common_fields(name_create=False), _PROJECT,
              Field("hostId", "reference[host]", column="host_id", filter=True),
              Field("serviceId", "reference[service]", column="service_id", create=True,
                    filter=True),
              Field("healthcheckUuid", "string", create=True, max_length=255),
              Field("reportedHealth", "string", create=True, max_length=64))
