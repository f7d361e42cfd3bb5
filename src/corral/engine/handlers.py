"""Process handlers: what a process does between its transitioning and done states.

Most processes only move states. Those that need an agent call it: ``instance.start``
sends ``compute.instance.activate`` to the agent of the instance's host, and so on
(the definition's ``agent_command``). The final reply's ``data[<resourceType>]`` is
written back onto the resource (keys starting with ``+`` merge maps).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa

from corral.engine import agentkeys
from corral.engine.attempt import Attempt, HandlerResult
from corral.errors import ProcessDelay
from corral.protocol.ids import format_id
from corral.store import tables

Handler = Callable[[Attempt], Awaitable[HandlerResult | None]]
_HANDLERS: dict[str, Handler] = {}


def handler(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            _HANDLERS[name] = fn
        return fn
    return register


def get(process_name: str) -> Handler | None:
    return _HANDLERS.get(process_name)


def _reply_fields(reply: Any, resource_type: str) -> dict[str, Any]:
    data = reply.data or {}
    fields = data.get(resource_type)
    return dict(fields) if isinstance(fields, dict) else {}


def host_payload(row: Any) -> dict[str, Any]:
    """The host as the agent needs it."""
    return {"id": format_id("host", row.id), "uuid": row.uuid, "name": row.name,
            "agentId": format_id("agent", row.agent_id)}


def resource_payload(a: Attempt) -> dict[str, Any]:
    """The resource as the agent needs it: every declared field, wire ids."""
    from corral.api.context import Context, Principal

    admin = Principal(credential_id=0, account_id=0, account_kind="admin", project_id=None)
    ctx = Context(principal=admin, project_id=None, root_url="", services=a.services)
    out = a.rtype.render(ctx, _Row(a.resource))
    for key in ("links", "actions"):
        out.pop(key, None)
    return out


class _Row:
    """Adapts a row mapping to what ``TableType.render`` reads (``row._mapping``)."""

    def __init__(self, mapping: Any) -> None:
        self._mapping = mapping


async def _agent_call(a: Attempt, command: str,
                      environment: dict[str, str] | None = None) -> HandlerResult:
    host = await a.agent_host(a.resource.get("host_id"))  # one read: agent and payload
    resource = resource_payload(a)
    if environment:
        resource["environment"] = {**(resource.get("environment") or {}), **environment}
    payload = {a.rtype.name: resource, "host": host_payload(host),
               "processName": a.definition.name}
    reply = await a.call_agent(command, int(host.agent_id), payload)
    return HandlerResult(fields=_reply_fields(reply, a.rtype.name))


@handler("instance.create")
async def instance_create(a: Attempt) -> HandlerResult:
    fields: dict[str, Any] = {}
    if a.resource["host_id"] is None:
        fields["hostId"] = await allocate_host(a)
    start = (a.resource["data"] or {}).get("fields", {}).get("startOnCreate", True)
    return HandlerResult(fields=fields, chain=None if start is False else a.definition.delegate)


async def allocate_host(a: Attempt) -> int:
    """One of the active hosts of the instance's project, spread by instance id.

    Cheap on purpose (it reads the hosts, not the instances): consecutive instances go
    round the active hosts in turn.
    """
    ids = await a.services.engine.hosts.active_ids(a.resource["account_id"])
    if not ids:
        raise ProcessDelay("no active host in the project to run the instance on")
    return ids[a.resource["id"] % len(ids)]


async def _start_environment(a: Attempt) -> dict[str, str] | None:
    """The injected key's variables for instances with the create_agent labels."""
    labels = (a.resource["data"] or {}).get("fields", {}).get("labels")
    if not agentkeys.wants_agent_key(labels):
        return None
    await a.agent_of(a.resource["host_id"])  # no key is made for an instance on no host
    return await agentkeys.issue_key(a.services, await _fresh(a))


async def _fresh(a: Attempt) -> Any:
    t = a.rtype.table
    row = await a.services.store.fetch_one(sa.select(t).where(t.c.id == a.resource["id"]))
    return row._mapping


@handler("instance.start")
async def instance_start(a: Attempt) -> HandlerResult:
    return await _agent_call(a, "compute.instance.activate", await _start_environment(a))


@handler("instance.stop")
async def instance_stop(a: Attempt) -> HandlerResult:
    return await _agent_call(a, "compute.instance.deactivate")


@handler("instance.restart")
async def instance_restart(a: Attempt) -> HandlerResult:
    await _agent_call(a, "compute.instance.deactivate")
    return await _agent_call(a, "compute.instance.activate", await _start_environment(a))


@handler("instance.remove")
async def instance_remove(a: Attempt) -> HandlerResult | None:
    result = None
    if a.resource["host_id"] is not None:  # else never placed: nothing on any agent
        result = await _agent_call(a, "compute.instance.remove")
    await agentkeys.drop_keys(a.services, await _fresh(a))
    return result


@handler("volume.activate", "volume.deactivate", "volume.remove")
async def volume_command(a: Attempt) -> HandlerResult | None:
    if a.resource.get("host_id") is None:
        return None
    command = a.definition.agent_command or f"storage.volume.{a.definition.action}"
    return await _agent_call(a, command)


@handler("containerevent.create")
async def container_event(a: Attempt) -> HandlerResult | None:
    """An agent saw an instance's process end on its own: bring the instance to ``stopped``.

    The instance is found by its ``externalId`` on the reporting agent's host. Stopping
    runs ``instance.stop`` like any other stop (the agent answers the deactivate of a
    process that is already gone with success), so the usual lock and log apply.
    """
    from corral.engine.submit import submit

    ev = a.resource
    if ev["external_status"] not in ("die", "kill", "stop"):
        return None
    i = tables.instance
    conditions = [i.c.external_id == ev["external_id"], i.c.account_id == ev["account_id"],
                  i.c.removed.is_(None), i.c.state.in_(("running", "starting"))]
    if ev["host_id"] is not None:
        conditions.append(i.c.host_id == ev["host_id"])
    async with a.services.store.tx() as conn:
        row = (await conn.execute(sa.select(i.c.id).where(*conditions).limit(1))).first()
        if row is None:
            a.log.note(f"no running instance with externalId {ev['external_id']}",
                       time=time.time())
            return None
        await submit(conn, "instance.stop", resource_type="instance", resource_id=row.id,
                     account_id=ev["account_id"], server_id=a.server_id,
                     data={"reason": f"containerEvent {ev['external_status']}"})
    a.services.wake_engine()
    return None


@handler("agent.reconnect")
async def agent_reconnect(a: Attempt) -> HandlerResult:
    """Wait for the agent to answer a ping again; until then the process is retried."""
    from corral.engine.agentping import ping_event

    settings = a.services.settings
    event = ping_event(a.resource["id"], instances=False)
    a.log.event_sent(name=event.name, event_id=event.id, time=time.time())
    reply = await a.services.bus.call(event,
                                      timeout=settings.get_seconds("agent.ping.timeout.millis"))
    a.log.reply_received(name=reply.name, event_id=reply.id, previous_id=reply.correlation_id,
                         time=time.time())
    return HandlerResult()
