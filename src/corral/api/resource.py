"""Resource types: the declaration of a type and the generic behaviour of table-backed ones.

A ``ResourceType`` is declared once (fields, methods, actions) and everything the API
shows of it is derived: schema, OpenAPI, resource JSON, validation. ``TableType`` adds
the generic list/get/create/update/delete over a table with the common columns;
concrete types override the few hooks where they differ.
"""

from __future__ import annotations

import functools
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from corral.api.context import Context
from corral.api.fields import Field
from corral.api.query import CollectionQuery, where_clauses
from corral.errors import ApiError, Forbidden, NotFound, ProtocolError, ValidationError
from corral.protocol.ids import format_id, parse_id
from corral.store.db import now_millis

T = TypeVar("T")

# Keys a client may send back unchanged on create/update; they are ignored.
META_KEYS = frozenset({"type", "id", "links", "actions", "baseType"})
HIDDEN_STATES = ("purged",)


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    input: str | None = None  # the schema id of the input, None = no input
    output: str | None = None  # the schema id of the output, None = the resource itself
    states: frozenset[str] | None = None  # valid only in these states; None = always
    admin_only: bool = False


def iso(millis: int | None) -> str | None:
    if millis is None:
        return None
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc).isoformat().replace(
        "+00:00", "Z")


def common_fields(*, name_create: bool = True) -> tuple[Field, ...]:
    """Fields every table-backed resource has (the common columns)."""
    return (
        Field("id", "string", column="id", filter=True, nullable=False),
        Field("name", "string", column="name", create=name_create, update=name_create,
              max_length=255, filter=True),
        Field("description", "string", column="description", create=True, update=True,
              max_length=1024, filter=True),
        Field("state", "string", column="state", filter=True, nullable=False),
        Field("kind", "string", column="kind", filter=True, nullable=False),
        Field("uuid", "string", column="uuid", filter=True, nullable=False),
        Field("created", "date", column="created"),
        Field("createdTS", "int", column="created"),
        Field("removed", "date", column="removed", filter=True),
        Field("transitioning", "enum", column="transitioning", options=("yes", "no", "error")),
        Field("transitioningMessage", "string", column="transitioning_message"),
        Field("transitioningProgress", "int", column="transitioning_progress"),
    )


class ResourceType:
    """A type of the API. Subclasses set the class attributes and implement the verbs."""

    name: ClassVar[str]
    plural: ClassVar[str]
    fields: ClassVar[tuple[Field, ...]] = ()
    collection_methods: ClassVar[tuple[str, ...]] = ("GET",)
    resource_methods: ClassVar[tuple[str, ...]] = ("GET",)
    actions: ClassVar[dict[str, Action]] = {}
    collection_actions: ClassVar[dict[str, Action]] = {}
    admin_only: ClassVar[bool] = False  # schema and collection visible to admins only
    listed: ClassVar[bool] = True  # has a collection URL at all
    description: ClassVar[str | None] = None

    def field_map(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    def filters(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields if f.filter and f.column is not None}

    def visible_to(self, ctx: Context) -> bool:
        return ctx.principal.is_admin or not self.admin_only

    def collection_url(self, ctx: Context) -> str:
        return f"{ctx.base_url}/{self.plural}"

    def resource_url(self, ctx: Context, wire_id: str) -> str:
        return f"{self.collection_url(ctx)}/{wire_id}"

    # The verbs; types implement those their methods allow.
    async def list(self, ctx: Context, q: CollectionQuery) -> tuple[list[dict[str, Any]], bool]:
        raise ApiError("listing is not supported", status=405, code="MethodNotAllowed")

    async def get(self, ctx: Context, wire_id: str) -> dict[str, Any]:
        raise ApiError("reading is not supported", status=405, code="MethodNotAllowed")

    async def create(self, ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
        raise ApiError("creating is not supported", status=405, code="MethodNotAllowed")

    async def update(self, ctx: Context, wire_id: str, body: dict[str, Any]) -> dict[str, Any]:
        raise ApiError("updating is not supported", status=405, code="MethodNotAllowed")

    async def delete(self, ctx: Context, wire_id: str) -> dict[str, Any]:
        raise ApiError("deleting is not supported", status=405, code="MethodNotAllowed")

    async def action(
        self, ctx: Context, wire_id: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        raise ApiError(f"no action {name!r}", status=404, code="ActionNotAvailable",
                       field_name="action")


def check_input(rtype: ResourceType, body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Validated values of the writable fields in ``body``; 422 naming the first bad field."""
    fields = rtype.field_map()
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in META_KEYS:
            continue
        f = fields.get(key)
        if f is None:
            raise ValidationError(f"{key!r} is not a field of {rtype.name}",
                                  code="InvalidOption", field_name=key)
        if not (f.create if creating else f.update):
            raise ValidationError(
                f"{key!r} cannot be {'set on create' if creating else 'changed'}",
                code="NotCreatable" if creating else "NotUpdatable", field_name=key)
        out[key] = f.validate(value)
    if creating:
        for f in rtype.fields:
            if not f.create:
                continue
            if f.name not in out and f.required:
                raise ValidationError(f"{f.name} is required", code="MissingRequired",
                                      field_name=f.name)
            if f.name not in out and f.default is not None:
                out[f.name] = f.default
    return out


class TableType(ResourceType):
    """A type stored as rows of ``table`` with the common columns, ``kind`` in ``kinds``."""

    table: ClassVar[sa.Table]
    kinds: ClassVar[tuple[str, ...]]
    id_type: ClassVar[str]  # the id prefix family (see corral.protocol.ids)
    scoped: ClassVar[bool] = True  # rows belong to a project (column account_id)
    initial_state: ClassVar[str] = "active"
    collection_methods = ("GET", "POST")
    resource_methods = ("GET", "PUT", "DELETE")

    # ---- scoping -------------------------------------------------------------------------
    def scope_clauses(self, ctx: Context) -> list[Any]:
        t = self.table
        clauses: list[Any] = []
        if "kind" in t.c:
            clauses += [t.c.kind.in_(self.kinds), t.c.state.not_in(HIDDEN_STATES)]
        if self.scoped:
            if ctx.project_id is not None:
                clauses.append(t.c.account_id == ctx.project_id)
            elif not ctx.principal.is_admin:
                clauses.append(t.c.account_id == ctx.principal.account_id)
        return clauses

    def owner_for_create(self, ctx: Context) -> int:
        return ctx.project_id if ctx.project_id is not None else ctx.principal.account_id

    def row_id(self, wire_id: str) -> int:
        try:
            return parse_id(self.id_type, wire_id)
        except ProtocolError:
            raise NotFound(f"{self.name} {wire_id!r} not found", field_name="id") from None

    # ---- rendering -----------------------------------------------------------------------
    def render(self, ctx: Context, row: Any) -> dict[str, Any]:
        m = row._mapping
        wire_id = format_id(self.id_type, m["id"])
        assert wire_id is not None
        data_fields = (m["data"] or {}).get("fields", {}) if "data" in m else {}
        out: dict[str, Any] = {"id": wire_id, "type": self.name, "baseType": self.base_type}
        links: dict[str, str] = {"self": self.resource_url(ctx, wire_id)}
        for name, column, default, is_date, ref, link in _render_plan(self.fields):
            value = m[column] if column is not None else data_fields.get(name, default)
            if is_date:
                value = iso(value)
            if ref is not None and value is not None:
                value = format_id(ref, value)
                links[link] = f"{ctx.root_url}/{_plural_of(ctx, ref)}/{value}"
            out[name] = value
        out["links"] = links
        out["actions"] = {
            name: f"{links['self']}?action={name}" for name in self.valid_actions(ctx, m)
        }
        return out

    @property
    def base_type(self) -> str:
        return self.name

    def valid_actions(self, ctx: Context, m: Any) -> list[str]:
        return [
            a.name for a in self.actions.values()
            if (a.states is None or m["state"] in a.states)
            and (ctx.principal.is_admin or not a.admin_only)
        ]

    # ---- reading -------------------------------------------------------------------------
    async def list(self, ctx: Context, q: CollectionQuery) -> tuple[list[dict[str, Any]], bool]:
        t = self.table
        stmt = sa.select(t).where(*self.scope_clauses(ctx), *where_clauses(t, q.conditions))
        sort_col = t.c[self.field_map()[q.sort].column] if q.sort else t.c.id  # type: ignore[index]
        order = sort_col.desc() if q.order == "desc" else sort_col.asc()
        tiebreak = t.c.id.desc() if q.order == "desc" else t.c.id.asc()
        stmt = stmt.order_by(order, tiebreak).offset(q.marker).limit(q.limit + 1)
        rows = await ctx.services.store.fetch_all(stmt)
        more = len(rows) > q.limit
        return [self.render(ctx, r) for r in rows[: q.limit]], more

    async def load(self, ctx: Context, wire_id: str, conn: AsyncConnection | None = None) -> Any:
        """The row behind ``wire_id`` if this context may see it; NotFound otherwise."""
        t = self.table
        stmt = sa.select(t).where(t.c.id == self.row_id(wire_id), *self.scope_clauses(ctx))
        row = (await conn.execute(stmt)).first() if conn is not None else \
            await ctx.services.store.fetch_one(stmt)
        if row is None:
            raise NotFound(f"{self.name} {wire_id!r} not found", field_name="id")
        return row

    async def get(self, ctx: Context, wire_id: str) -> dict[str, Any]:
        return self.render(ctx, await self.load(ctx, wire_id))

    # ---- writing -------------------------------------------------------------------------
    def split_values(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Validated field values split into column values and JSON ``data.fields`` values."""
        fields = self.field_map()
        columns: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name, value in values.items():
            col = fields[name].column
            if col is None:
                extra[name] = value
            else:
                columns[col] = value
        return columns, extra

    async def resolve_references(self, ctx: Context, conn: AsyncConnection,
                                 values: dict[str, Any]) -> None:
        """Replace reference ids in ``values`` by row ids, checking they exist and are visible."""
        registry = ctx.services.registry
        for f in self.fields:
            ref = f.reference_type
            if ref is None or values.get(f.name) is None:
                continue
            target = registry.get(ref)
            if not isinstance(target, TableType):
                continue
            try:
                row = await target.load(ctx, values[f.name], conn)
            except NotFound:
                raise ValidationError(f"{f.name}: no {ref} {values[f.name]!r}",
                                      code="InvalidReference", field_name=f.name) from None
            values[f.name] = row._mapping["id"]

    async def before_insert(self, ctx: Context, conn: AsyncConnection,
                            row: dict[str, Any], values: dict[str, Any]) -> None:
        """Hook: adjust the row about to be inserted."""

    async def after_insert(self, ctx: Context, conn: AsyncConnection, row: Any,
                           out: dict[str, Any]) -> None:
        """Hook: more work in the same transaction; may add to the response ``out``."""

    async def create(self, ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
        if "POST" not in self.collection_methods:
            raise ApiError(f"{self.plural} cannot be created", status=405,
                           code="MethodNotAllowed")
        checked = check_input(self, body, creating=True)

        async def insert(conn: Any) -> tuple[Any, dict[str, Any]]:
            values = dict(checked)  # resolved in place: a re-run starts from the input again
            await self.resolve_references(ctx, conn, values)
            columns, extra = self.split_values(values)
            row: dict[str, Any] = {
                "uuid": str(uuidlib.uuid4()),
                "kind": self.kinds[0],
                "state": self.initial_state,
                "created": now_millis(),
                "transitioning": "no",
                "data": {"fields": extra} if extra else {},
                **columns,
            }
            if self.scoped and row.get("account_id") is None:  # absent or null: the default
                row["account_id"] = self.owner_for_create(ctx)
            await self.before_insert(ctx, conn, row, values)
            inserted = (await conn.execute(_insert_returning(self.table), row)).one()
            out = self.render(ctx, inserted)
            await self.after_insert(ctx, conn, inserted, out)
            return inserted, out

        inserted, out = await self.write(ctx, insert)
        await ctx.services.changed(self, inserted)
        return out

    async def write(self, ctx: Context, op: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``op`` (a function of a connection) in a transaction of its own; a type may
        share it with others (``ProcessType``: the store's group commit)."""
        async with ctx.services.store.tx() as conn:
            return await op(conn)

    async def update(self, ctx: Context, wire_id: str, body: dict[str, Any]) -> dict[str, Any]:
        values = check_input(self, body, creating=False)
        async with ctx.services.store.tx() as conn:
            current = await self.load(ctx, wire_id, conn)
            await self.resolve_references(ctx, conn, values)
            columns, extra = self.split_values(values)
            if extra:
                data = dict(current._mapping["data"] or {})
                data["fields"] = {**data.get("fields", {}), **extra}
                columns["data"] = data
            row = current
            if columns:
                stmt = sa.update(self.table).where(self.table.c.id == current._mapping["id"])
                row = (await conn.execute(stmt.values(**columns).returning(self.table))).one()
        await ctx.services.changed(self, row)
        return self.render(ctx, row)

    async def set_state(self, ctx: Context, wire_id: str, *, allowed: frozenset[str] | None,
                        state: str, removed: bool = False) -> dict[str, Any]:
        """Move a resource to ``state`` (if it is in one of ``allowed``) in one statement."""
        async with ctx.services.store.tx() as conn:
            current = await self.load(ctx, wire_id, conn)
            if allowed is not None and current._mapping["state"] not in allowed:
                raise ApiError(
                    f"{self.name} {wire_id} is {current._mapping['state']}; cannot become {state}",
                    status=422, code="InvalidState", field_name="state")
            values: dict[str, Any] = {"state": state}
            if removed:
                values["removed"] = now_millis()
            stmt = sa.update(self.table).where(self.table.c.id == current._mapping["id"])
            row = (await conn.execute(stmt.values(**values).returning(self.table))).one()
        self.after_state_change(ctx, row)
        await ctx.services.changed(self, row)
        return self.render(ctx, row)

    def after_state_change(self, ctx: Context, row: Any) -> None:
        """Hook: a state change was committed (e.g. drop what the auth cache holds of it)."""

    # The state-only verbs of types whose changes are not processes (keys, tokens, accounts);
    # a type offers them by declaring the actions.
    async def do_activate(self, ctx: Context, wire_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.set_state(ctx, wire_id, allowed=frozenset({"inactive"}), state="active")

    async def do_deactivate(self, ctx: Context, wire_id: str,
                            body: dict[str, Any]) -> dict[str, Any]:
        return await self.set_state(ctx, wire_id, allowed=frozenset({"active"}), state="inactive")

    async def remove_in_place(self, ctx: Context, wire_id: str) -> dict[str, Any]:
        """DELETE without a process: active or inactive → removed."""
        return await self.set_state(ctx, wire_id, allowed=frozenset({"active", "inactive"}),
                                    state="removed", removed=True)

    async def action(
        self, ctx: Context, wire_id: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        act = self.actions.get(name)
        if act is None or (act.admin_only and not ctx.principal.is_admin):
            raise ApiError(f"{self.name} has no action {name!r}", status=404,
                           code="ActionNotAvailable", field_name="action")
        handler = getattr(self, f"do_{name}", None)
        if handler is None:
            raise ApiError(f"{self.name} has no action {name!r}", status=404,
                           code="ActionNotAvailable", field_name="action")
        if act.states is not None:
            current = await self.load(ctx, wire_id)
            if current._mapping["state"] not in act.states:
                raise ApiError(f"action {name} is not available while {self.name} {wire_id} is "
                               f"{current._mapping['state']}", status=422,
                               code="ActionNotAvailable", field_name="action")
        result: dict[str, Any] = await handler(ctx, wire_id, body)
        return result


def forbid_unless_admin(ctx: Context, what: str) -> None:
    if not ctx.principal.is_admin:
        raise Forbidden(f"only an admin key may {what}")


@functools.cache
def _insert_returning(table: sa.Table) -> Any:
    """INSERT … RETURNING *, built once: the columns come from the parameter keys."""
    return sa.insert(table).returning(table)


_PLANS: dict[int, tuple[tuple[Field, ...], tuple[Any, ...]]] = {}


def _render_plan(fields: tuple[Field, ...]) -> tuple[Any, ...]:
    """What ``render`` needs of each field but ``id``, worked out once per field tuple:
    (name, column, default, is date, reference type, link name)."""
    hit = _PLANS.get(id(fields))
    if hit is not None and hit[0] is fields:
        return hit[1]
    plan = tuple(
        (f.name, f.column, f.default, f.type == "date", f.reference_type,
         f.name.removesuffix("Id"))
        for f in fields if f.name != "id")
    _PLANS[id(fields)] = (fields, plan)
    return plan


def _plural_of(ctx: Context, type_name: str) -> str:
    t = ctx.services.registry.get(type_name)
    return t.plural if t is not None else type_name + "s"
