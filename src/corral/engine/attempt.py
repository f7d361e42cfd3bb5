"""What a process handler gets: the resource, the log, and a way to call its agent."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from corral.engine.definitions import ProcessDefinition
from corral.engine.log import ExecutionLog
from corral.engine.statemachine import DELEGATE
from corral.errors import ProcessDelay
from corral.protocol.event import Event
from corral.protocol.ids import format_id
from corral.store import tables

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
        if host_id is None:
            raise ProcessDelay("the resource is on no host yet")
        h = tables.host
        row = await self.services.store.fetch_one(
            sa.select(h.c.agent_id, h.c.state).where(h.c.id == host_id))
        if row is None or row.agent_id is None:
            raise ProcessDelay(f"host {host_id} has no agent")
        return int(row.agent_id)

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
