"""Accounts and projects (Cattle's environments): rows of the ``account`` table."""

from __future__ import annotations

from typing import Any

from corral.api.context import Context
from corral.api.fields import Field
from corral.api.resource import Action, TableType, common_fields, forbid_unless_admin
from corral.store import tables

# "environment": the account of a key injected into an instance by the create_agent labels
ACCOUNT_KINDS = ("admin", "project", "user", "agent", "service", "environment")


class AccountType(TableType):
    """Every account: admin, projects, agents' and services' accounts. Admin only."""

    name = "account"
    plural = "accounts"
    table = tables.account
    id_type = "account"
    kinds = ACCOUNT_KINDS
    scoped = False
    admin_only = True
    resource_methods = ("GET", "PUT")
    fields = (
        *common_fields(),
        Field("externalId", "string", column="external_id", create=True, update=True,
              max_length=255, filter=True),
    )
    # An account's kind is chosen at creation (project accounts come from /v1/projects).
    fields = tuple(
        Field("kind", "enum", column="kind", create=True, filter=True, nullable=False,
              options=("user", "service"), default="user") if f.name == "kind" else f
        for f in fields
    )
    actions = {
        "activate": Action("activate", states=frozenset({"inactive"})),
        "deactivate": Action("deactivate", states=frozenset({"active"})),
    }

    async def create(self, ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
        forbid_unless_admin(ctx, "create accounts")
        return await super().create(ctx, body)

    async def before_insert(self, ctx: Context, conn: Any, row: dict[str, Any],
                            values: dict[str, Any]) -> None:
        row["kind"] = values.get("kind", "user")

    def after_state_change(self, ctx: Context, row: Any) -> None:
        ctx.services.auth.forget_account(row._mapping["id"])


class ProjectType(TableType):
    """A project (environment): the scope of hosts, instances, stacks and project keys."""

    name = "project"
    plural = "projects"
    table = tables.account
    id_type = "project"
    kinds = ("project",)
    scoped = False
    fields = common_fields()
    actions = {
        "activate": Action("activate", states=frozenset({"inactive"}), admin_only=True),
        "deactivate": Action("deactivate", states=frozenset({"active"}), admin_only=True),
    }

    def scope_clauses(self, ctx: Context) -> list[Any]:
        clauses = super().scope_clauses(ctx)
        own = ctx.project_id if ctx.project_id is not None else ctx.principal.project_id
        if not ctx.principal.is_admin or ctx.scoped_url:
            clauses.append(self.table.c.id == (own if own is not None else -1))
        return clauses

    async def create(self, ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
        forbid_unless_admin(ctx, "create projects")
        return await super().create(ctx, body)

    async def update(self, ctx: Context, wire_id: str, body: dict[str, Any]) -> dict[str, Any]:
        forbid_unless_admin(ctx, "change projects")
        return await super().update(ctx, wire_id, body)

    async def delete(self, ctx: Context, wire_id: str) -> dict[str, Any]:
        forbid_unless_admin(ctx, "remove projects")
        return await self.set_state(ctx, wire_id, allowed=None, state="removed", removed=True)

    def after_state_change(self, ctx: Context, row: Any) -> None:
        ctx.services.auth.forget_account(row._mapping["id"])
