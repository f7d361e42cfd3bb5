"""Host registration (§8): a project's ``registrationToken`` and ``POST /v1/register``.

A token belongs to a project. Its ``command`` is the exact command line that starts an
agent for it. ``POST /v1/register`` (authenticated by the token alone) creates the
host, the agent and the agent's ``agentApiKey`` and returns the keys once; the agent
keeps them and never registers again. A deactivated or removed token registers nothing.
"""

from __future__ import annotations

import secrets
import shlex
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from corral.api.context import Context
from corral.api.fields import Field
from corral.api.resource import Action, ResourceType, TableType, check_input, common_fields
from corral.errors import Unauthorized
from corral.protocol.ids import format_id
from corral.resources.agents import register_agent
from corral.store import tables


class RegistrationTokenType(TableType):
    name = "registrationToken"
    plural = "registrationtokens"
    table = tables.credential
    id_type = "registrationToken"
    kinds = ("registrationToken",)
    fields = (
        *common_fields(),
        Field("accountId", "reference[project]", column="account_id", filter=True),
        Field("token", "string", column="secret_value"),
        Field("registrationUrl", "string"),
        Field("command", "string"),
    )
    actions = {
        "activate": Action("activate", states=frozenset({"inactive"})),
        "deactivate": Action("deactivate", states=frozenset({"active"})),
    }

    async def before_insert(self, ctx: Context, conn: Any, row: dict[str, Any],
                            values: dict[str, Any]) -> None:
        if ctx.project_id is None:
            from corral.resources.processed import default_project

            row["account_id"] = await default_project(conn)
        token = secrets.token_hex(20)  # hex: never starts with "-", safe on a command line
        row["secret_value"] = token
        row["public_value"] = f"rt-{token[:16]}"

    def render(self, ctx: Context, row: Any) -> dict[str, Any]:
        out = super().render(ctx, row)
        server = ctx.root_url[: -len("/v1")] if ctx.root_url.endswith("/v1") else ctx.root_url
        out["registrationUrl"] = f"{ctx.root_url}/register"
        out["command"] = f"corral agent --url {shlex.quote(server)} --token {out['token']}"
        return out

    async def delete(self, ctx: Context, wire_id: str) -> dict[str, Any]:
        return await self.remove_in_place(ctx, wire_id)


_REGISTER_FIELDS = (
    Field("token", "string", create=True, required=True, nullable=False, max_length=255),
    Field("hostname", "string", create=True, required=True, nullable=False, max_length=255,
          valid_chars="a-zA-Z0-9_.-"),
)


class RegisterInput(ResourceType):
    """The body of ``POST /v1/register`` (validated like any create)."""

    name = "register"
    plural = "register"
    listed = False
    fields = _REGISTER_FIELDS


async def handle_register(request: web.Request, services: Any, body: dict[str, Any],
                          root_url: str) -> dict[str, Any]:
    """Register a host with a token: returns the agent's keys, once."""
    values = check_input(RegisterInput(), body, creating=True)
    c = tables.credential
    async with services.store.tx() as conn:
        token = (await conn.execute(sa.select(c.c.account_id).where(
            c.c.kind == "registrationToken", c.c.secret_value == values["token"],
            c.c.state == "active"))).first()
        if token is None:
            raise Unauthorized("unknown or revoked registration token", field_name="token")
        reg = await register_agent(conn, project_id=token.account_id,
                                   hostname=values["hostname"], server_id=services.server_id)
    services.wake_engine()
    return {
        "type": "agentRegistration",
        "agentId": format_id("agent", reg.agent_id),
        "hostId": format_id("host", reg.host_id),
        "projectId": format_id("project", token.account_id),
        "accessKey": reg.access_key,
        "secretKey": reg.secret_key,
        "url": root_url,
    }
