"""Making an agent: its account, its ``agentApiKey``, the ``agent`` and its ``host``.

The agent account (kind ``agent``) records its project and agent in its data, so a
key of it acts inside that project and subscribes qualified with ``;agent=<id>``
(§3). The secret is returned once, here, and stored hashed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from corral.engine.submit import submit
from corral.resources.credentials import new_access_key, new_secret_key
from corral.server.auth import hash_secret_off_loop
from corral.store import tables
from corral.store.db import now_millis


@dataclass(frozen=True, slots=True)
class AgentRegistration:
    agent_id: int
    host_id: int
    account_id: int
    access_key: str
    secret_key: str


def _row(kind: str, name: str | None, state: str, **extra: Any) -> dict[str, Any]:
    return {"uuid": str(uuid.uuid4()), "kind": kind, "name": name, "state": state,
            "created": now_millis(), "transitioning": "no", "data": {}, **extra}


async def register_agent(conn: AsyncConnection, *, project_id: int, hostname: str,
                         uri: str | None = None, server_id: str | None = None,
                         host_fields: dict[str, Any] | None = None) -> AgentRegistration:
    """Create account, key, agent and host in ``conn``'s transaction, with their processes."""
    a, c, ag, h = tables.account, tables.credential, tables.agent, tables.host
    account_id = (await conn.execute(sa.insert(a).values(
        **_row("agent", f"agent {hostname}", "active")).returning(a.c.id))).scalar_one()
    agent_id = (await conn.execute(sa.insert(ag).values(
        **_row("agent", hostname, "requested", transitioning="yes"), account_id=project_id,
        uri=uri, agent_account_id=account_id).returning(ag.c.id))).scalar_one()
    await conn.execute(sa.update(a).where(a.c.id == account_id).values(
        data={"projectId": project_id, "agentId": agent_id}))
    access, secret = new_access_key(), new_secret_key()
    await conn.execute(sa.insert(c).values(
        **_row("agentApiKey", f"agent {hostname}", "active"), account_id=account_id,
        public_value=access, secret_value=await hash_secret_off_loop(secret)))
    fields = {"hostname": hostname, **(host_fields or {})}
    host_id = (await conn.execute(sa.insert(h).values(
        **_row("host", hostname, "requested", transitioning="yes", data={"fields": fields}),
        account_id=project_id, agent_id=agent_id).returning(h.c.id))).scalar_one()
    await submit(conn, "agent.create", resource_type="agent", resource_id=agent_id,
                 account_id=project_id, server_id=server_id)
    await submit(conn, "host.create", resource_type="host", resource_id=host_id,
                 account_id=project_id, server_id=server_id)
    return AgentRegistration(agent_id, host_id, account_id, access, secret)
