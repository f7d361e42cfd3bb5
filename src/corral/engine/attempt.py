"""What a process handler gets: the resource, the log, and a way to call its agent."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corral.engine import hotsql
from corral.engine.definitions import ProcessDefinition
from corral.engine.log import ExecutionLog
from corral.engine.statemachine import DELEGATE
from corral.errors import ProcessDelay
from corral.protocol.event import Event
from corral.protocol.ids import format_id

_logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from corral.api.resource import TableType


@dataclass(slots=True)
class HandlerResult:
    """Fields to write onto the resource (API names; ``+name`` merges maps) and the chain."""

    fields: dict[str, Any] = field(default_factory=dict)
    chain: Any = DELEGATE  # DELEGATE: the definition's delegate; None: no chain; or a name


@dataclass(slots=True)
class Attempt:
    services: Any
    definition: ProcessDefinition
    process: Any  # the process_instance row mapping
    rtype: TableType
    resource: Any  # the resource row mapping as the attempt started
    log: ExecutionLog
    server_id: str

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.process["data"] or {})

    def wire_id(self) -> str:
        wire = format_id(self.rtype.id_type, self.resource["id"])
        assert wire is not None
        return wire

    async def agent_of(self, host_id: int | None) -> int:
        """The agent that owns ``host_id``; ProcessDelay while there is none."""
        return int((await self.agent_host(host_id)).agent_id)

    async def agent_host(self, host_id: int | None) -> Any:
        """The row of ``host_id`` if an agent owns it; ProcessDelay while none does."""
        if host_id is None:
            raise ProcessDelay("the resource is on no host yet")
        row = await self.services.engine.hosts.host(host_id)
        if row is None or row.agent_id is None:
            raise ProcessDelay(f"host {host_id} has no agent")
        return row

    async def call_agent(self, command: str, agent_id: int, data: dict[str, Any], *,
                         resource_type: str | None = None, resource_id: str | None = None
                         ) -> Event:
        """Send ``command`` to the agent and wait for its final reply.

        Waits ``eventing.timeout.millis``; progress replies keep the call alive. Raises
        CallTimeout (the attempt exits TIMEOUT and the work is sent again as a new event
        on the next attempt) or ErrorReply.
        """
        settings = self.services.settings
        timeout = settings.get_seconds("eventing.timeout.millis")
        event = Event.new(
            f"{command};agent={agent_id}",
            resource_type=resource_type or self.rtype.name,
            resource_id=resource_id or self.wire_id(),
            data=data,
            context={"processId": format_id("processInstance", self.process["id"]) or "",
                     "processName": self.definition.name},
        )
        log = self.log

        def progress(reply: Event) -> None:
            log.reply_received(name=reply.name, event_id=reply.id,
                               previous_id=reply.correlation_id, time=time.time(),
                               transitioning=reply.transitioning,
                               message=reply.transitioning_message)

        sent_at = time.time()
        log.event_sent(name=event.name, event_id=event.id, time=sent_at,
                       timeout=timeout)
        try:
            reply = await self.services.bus.call(event, timeout=timeout, on_progress=progress)
        except Exception as exc:
            from corral.errors import CallTimeout, ErrorReply

            if isinstance(exc, CallTimeout):
                log.reply_timeout(name=event.name, event_id=event.id, time=time.time(),
                                  timeout=timeout)
            elif isinstance(exc, ErrorReply) and exc.reply is not None:
                r = exc.reply
                log.reply_received(name=r.name, event_id=r.id, previous_id=r.correlation_id,
                                   time=time.time(), transitioning=r.transitioning,
                                   message=r.transitioning_message)
            raise
        log.reply_received(name=reply.name, event_id=reply.id, previous_id=reply.correlation_id,
                           time=time.time(), transitioning=reply.transitioning,
                           message=reply.transitioning_message)
        return reply

    async def field_values(self, conn: Any, fields: dict[str, Any]) -> dict[str, Any]:
        """Column values for fields a handler or an agent reply wants written.

        Fields kept in the row's JSON bag are merged into the bag as it is now (a handler
        may have changed it), read in the finishing transaction only when there are some.
        """
        if not fields:
            return {}
        declared = self.rtype.field_map()
        columns: dict[str, Any] = {}
        data: dict[str, Any] | None = None
        extra: dict[str, Any] = {}
        touched = False
        for name, value in fields.items():
            merge = name.startswith("+")
            name = name.lstrip("+")
            f = declared.get(name)
            if f is None:
                _logger.debug("ignoring unknown field %s for %s", name, self.rtype.name)
                continue
            if f.column is None:
                if data is None:
                    data = (await conn.execute(hotsql.select_resource_data(self.rtype.table),
                                               {"b_id": self.process["resource_id"]})
                            ).scalar_one_or_none() or {}
                    extra = dict(data.get("fields", {}))
                if merge and isinstance(value, dict) and isinstance(extra.get(name), dict):
                    value = {**extra[name], **value}
                extra[name] = value
                touched = True
            else:
                columns[f.column] = value
        if touched:
            assert data is not None
            columns["data"] = {**data, "fields": extra}
        return columns
