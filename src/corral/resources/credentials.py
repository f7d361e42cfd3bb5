"""API keys: ``credential`` rows of kind ``apiKey``.

The access key (``publicValue``) is 20 uppercase hex characters; the secret
(``secretValue``) is 40 characters, returned once in the create response and stored
only as a salted PBKDF2 hash.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from corral.api.context import Context
from corral.api.fields import Field
from corral.api.resource import Action, TableType, common_fields
from corral.errors import Forbidden
from corral.server.auth import hash_secret_off_loop
from corral.store import tables

_SECRET_ALPHABET = string.ascii_letters + string.digits


def new_access_key() -> str:
    return secrets.token_hex(10).upper()


def new_secret_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


class ApiKeyType(TableType):
    name = "apikey"
    plural = "apikeys"
    table = tables.credential
    id_type = "apikey"
    kinds = ("apiKey",)
    fields = (
        *common_fields(),
        Field("accountId", "reference[account]", column="account_id", create=True, filter=True,
              description="the account the key acts as (admins only; default: the project in "
                          "scope, else the caller's own account)"),
        Field("publicValue", "string", column="public_value", filter=True,
              description="the access key"),
        Field("secretValue", "password", description="the secret key, shown only on create"),
    )
    actions = {
        "activate": Action("activate", states=frozenset({"inactive"})),
        "deactivate": Action("deactivate", states=frozenset({"active"})),
        "remove": Action("remove", states=frozenset({"active", "inactive"})),
    }

    def render(self, ctx: Context, row: Any) -> dict[str, Any]:
        out = super().render(ctx, row)
        out["secretValue"] = None  # never read back; only the create response carries it
        return out

    async def before_insert(self, ctx: Context, conn: Any, row: dict[str, Any],
                            values: dict[str, Any]) -> None:
        if "accountId" in values and not ctx.principal.is_admin:
            raise Forbidden("only an admin key may create keys for another account",
                            field_name="accountId")
        secret = new_secret_key()
        row["public_value"] = new_access_key()
        row["secret_value"] = await hash_secret_off_loop(secret)
        row["data"] = {}
        ctx.extra["secret"] = secret

    async def after_insert(self, ctx: Context, conn: Any, row: Any, out: dict[str, Any]) -> None:
        out["secretValue"] = ctx.extra.pop("secret")

    def after_state_change(self, ctx: Context, row: Any) -> None:
        ctx.services.auth.forget_key(row._mapping["public_value"])

    async def do_remove(self, ctx: Context, wire_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.delete(ctx, wire_id)

    async def delete(self, ctx: Context, wire_id: str) -> dict[str, Any]:
        return await self.remove_in_place(ctx, wire_id)
