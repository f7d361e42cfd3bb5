"""Keys injected into instances labelled ``io.rancher.container.create_agent: true`` (§8).

With ``io.rancher.container.agent.role: environment`` as well, each start of the instance
gets a fresh key of an account (kind ``environment``) scoped to the instance's project;
the previous key is revoked at that moment, so a copy of the database or an old
environment never holds a working secret for long. The key and the URL reach the
instance only through the ``compute.instance.activate`` event's environment: never the
instance row, its API view, ``resource.change`` or a log. Removing the instance removes
the account and its keys.
"""

from __future__ import annotations

import base64
from typing import Any

import sqlalchemy as sa

from corral.resources.credentials import new_access_key, new_secret_key
from corral.server.auth import hash_secret_off_loop
from corral.store import tables
from corral.store.db import now_millis

CREATE_AGENT = "io.rancher.container.create_agent"
AGENT_ROLE = "io.rancher.container.agent.role"


def wants_agent_key(labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return (labels.get(CREATE_AGENT, "").lower() == "true"
            and labels.get(AGENT_ROLE, "") == "environment")


async def issue_key(services: Any, instance: Any) -> dict[str, str]:
    """A fresh key for ``instance`` (revoking the last one): the environment to inject."""
    import uuid

    a, c, i = tables.account, tables.credential, tables.instance
    data = dict(instance["data"] or {})
    async with services.store.tx() as conn:
        account_id = data.get("agentAccountId")
        if account_id is None:
            account_id = (await conn.execute(sa.insert(a).values(
                uuid=str(uuid.uuid4()), kind="environment",
                name=f"instance {instance['uuid']}", state="active", created=now_millis(),
                transitioning="no", data={"projectId": instance["account_id"]},
            ).returning(a.c.id))).scalar_one()
            data["agentAccountId"] = account_id
            await conn.execute(sa.update(i).where(i.c.id == instance["id"]).values(data=data))
        await _revoke(conn, account_id)
        access, secret = new_access_key(), new_secret_key()
        await conn.execute(sa.insert(c).values(
            uuid=str(uuid.uuid4()), kind="apiKey", name=f"instance {instance['uuid']}",
            state="active", created=now_millis(), transitioning="no", data={},
            account_id=account_id, public_value=access, secret_value=await hash_secret_off_loop(secret)))
    services.auth.forget_account(account_id)
    auth = base64.b64encode(f"{access}:{secret}".encode()).decode()
    return {"CATTLE_URL": services.root_url(), "CATTLE_ACCESS_KEY": access,
            "CATTLE_SECRET_KEY": secret, "CATTLE_AGENT_INSTANCE_AUTH": f"Basic {auth}"}


async def _revoke(conn: Any, account_id: int) -> None:
    c = tables.credential
    await conn.execute(sa.update(c).where(c.c.account_id == account_id,
                                          c.c.state != "removed")
                       .values(state="removed", removed=now_millis()))


async def drop_keys(services: Any, instance: Any) -> None:
    """The instance is gone: its account and keys go with it."""
    account_id = (instance["data"] or {}).get("agentAccountId")
    if account_id is None:
        return
    a = tables.account
    async with services.store.tx() as conn:
        await _revoke(conn, account_id)
        await conn.execute(sa.update(a).where(a.c.id == account_id)
                           .values(state="removed", removed=now_millis()))
    services.auth.forget_account(account_id)
