"""Settings: the live configuration, read and changed through ``/v1/settings``.

``SettingsService`` holds every known setting's default and the values stored in the
database; a ``PUT /v1/settings/<name>`` writes the row and takes effect at once (the
in-memory value changes and listeners run). ``activeSetting`` is the API view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from corral.api.context import Context
from corral.api.fields import Field
from corral.api.query import CollectionQuery
from corral.api.resource import ResourceType, check_input, forbid_unless_admin
from corral.errors import NotFound, ValidationError
from corral.store import Store, tables

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SettingDef:
    name: str
    default: str
    kind: str = "int"  # int | str | bool
    public: bool = False
    description: str = ""
    min: int = 0


DEFINITIONS: tuple[SettingDef, ...] = (
    SettingDef("events.purge.after.seconds", "1209600",
               description="container_event and service_event rows older than this are purged"),
    SettingDef("process_instance.purge.after.seconds", "86400",
               description="finished process instances older than this are purged"),
    SettingDef("cleanup.interval.seconds", "3600", min=1,
               description="how often the purge task runs"),
    SettingDef("cleanup.query_limit.rows", "1000", min=1,
               description="rows deleted per purge batch"),
    SettingDef("api.sub.ping.interval.millis", "5000", public=True, min=10,
               description="interval of the ping event sent to every subscriber"),
    SettingDef("api.sub.queue.max.events", "1000", min=1,
               description="events queued for one subscriber before it is disconnected"),
    SettingDef("api.auth.cache.seconds", "30",
               description="how long a verified API key is trusted without a new hash check"),
    SettingDef("eventing.timeout.millis", "45000", min=1,
               description="how long a process waits for an agent's reply before retrying"),
    SettingDef("process.retry_max_wait.millis", "120000", min=0,
               description="longest wait between two attempts of a process"),
    SettingDef("process.running_delay.millis", "60000", min=0,
               description="a process marked running by a silent server is taken over after this"),
    SettingDef("process.replay.interval.seconds", "15", min=1,
               description="how often the replay task looks for processes to run again"),
    SettingDef("agent.ping.interval.millis", "5000", min=10,
               description="interval of the ping call to every agent"),
    SettingDef("agent.ping.timeout.millis", "15000", min=10,
               description="how long an agent has to answer a ping"),
    SettingDef("agent.ping.missed.max", "6", min=1,
               description="missed pings after which an agent goes reconnecting"),
    SettingDef("resource.purge.delay.seconds", "600", min=0,
               description="how long a removed resource stays before its purge process runs"),
    SettingDef("api.url", "", kind="str", public=True,
               description="the URL agents and injected keys use to reach this server "
                           "(empty: derived from the request)"),
)


class SettingsService:
    """Every setting's current value; changes are written to the database and applied now."""

    def __init__(self, store: Store, definitions: tuple[SettingDef, ...] = DEFINITIONS) -> None:
        from corral.engine.definitions import timeout_settings

        self.store = store
        self.defs: dict[str, SettingDef] = {d.name: d for d in definitions}
        for name, seconds in timeout_settings().items():
            self.defs.setdefault(name, SettingDef(
                name, str(int(seconds)), description="overall timeout of the process "
                "(0: retried until it succeeds); past it the process fails"))
        self._db: dict[str, str] = {}
        self._listeners: list[Callable[[str, str], None]] = []

    def register(self, definition: SettingDef) -> None:
        self.defs.setdefault(definition.name, definition)

    async def load(self) -> None:
        rows = await self.store.fetch_all(sa.select(tables.setting.c.name, tables.setting.c.value))
        self._db = {r.name: r.value for r in rows}

    def on_change(self, listener: Callable[[str, str], None]) -> None:
        self._listeners.append(listener)

    def get(self, name: str) -> str:
        if name in self._db:
            return self._db[name]
        d = self.defs.get(name)
        if d is None:
            raise KeyError(name)
        return d.default

    def get_int(self, name: str) -> int:
        return int(self.get(name))

    def get_seconds(self, name: str) -> float:
        """A ``…millis`` or ``…seconds`` setting as seconds (float)."""
        value = self.get_int(name)
        return value / 1000.0 if name.endswith(".millis") else float(value)

    def in_db(self, name: str) -> bool:
        return name in self._db

    def validate(self, name: str, value: Any) -> str:
        d = self.defs.get(name)
        if not isinstance(value, str):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError("value must be a string", field_name="value")
            value = str(value)
        if len(value) > 4096 or "\x00" in value:
            raise ValidationError("value is too long or holds NUL characters",
                                  code="MaxLengthExceeded", field_name="value")
        if d is not None and d.kind == "int":
            try:
                number = int(value)
            except ValueError:
                raise ValidationError(f"{name} needs an integer", field_name="value") from None
            if number < d.min:
                raise ValidationError(f"{name} must be at least {d.min}",
                                      code="MinLimitExceeded", field_name="value")
        if d is not None and d.kind == "bool" and value not in ("true", "false"):
            raise ValidationError(f"{name} needs true or false", field_name="value")
        return value

    async def set(self, name: str, value: Any) -> str:
        value = self.validate(name, value)
        t = tables.setting
        async with self.store.tx() as conn:
            updated = await conn.execute(sa.update(t).where(t.c.name == name).values(value=value))
            if updated.rowcount == 0:
                await conn.execute(sa.insert(t).values(name=name, value=value))
        self._db[name] = value
        log.info("setting %s = %s", name, value)
        for listener in self._listeners:
            listener(name, value)
        return value

    def names(self) -> list[str]:
        return sorted(set(self.defs) | set(self._db))


_NAME_CHARS = "a-zA-Z0-9._-"


class ActiveSettingType(ResourceType):
    """``activeSetting``: a setting with its default, database value and the value in force."""

    name = "activeSetting"
    plural = "activesettings"
    listed = False
    fields = (
        Field("id", "string", nullable=False),
        Field("name", "string", nullable=False, filter=True),
        Field("value", "string", update=True, max_length=4096),
        Field("activeValue", "string"),
        Field("source", "enum", options=("Default", "Database")),
        Field("inDb", "boolean"),
        Field("description", "string"),
    )


class SettingType(ResourceType):
    """``/v1/settings``: list, read and PUT settings. Non-admins see public settings only."""

    name = "setting"
    plural = "settings"
    collection_methods = ("GET", "POST")
    resource_methods = ("GET", "PUT")
    fields = (
        Field("id", "string", nullable=False),
        Field("name", "string", create=True, required=True, nullable=False, min_length=1,
              max_length=255, valid_chars=_NAME_CHARS, filter=True),
        Field("value", "string", create=True, update=True, required=True, max_length=4096),
        Field("activeValue", "string"),
        Field("source", "enum", options=("Default", "Database")),
        Field("inDb", "boolean"),
        Field("description", "string"),
    )

    def filters(self) -> dict[str, Field]:
        return {"name": self.field_map()["name"]}

    def _render(self, ctx: Context, name: str) -> dict[str, Any]:
        svc = ctx.services.settings
        d = svc.defs.get(name)
        url = f"{self.collection_url(ctx)}/{name}"
        value = svc.get(name)
        return {
            "id": name, "type": "activeSetting", "baseType": "setting", "name": name,
            "value": value, "activeValue": value,
            "source": "Database" if svc.in_db(name) else "Default", "inDb": svc.in_db(name),
            "description": d.description if d else None,
            "links": {"self": url}, "actions": {},
        }

    def _visible(self, ctx: Context, name: str) -> bool:
        d = ctx.services.settings.defs.get(name)
        return ctx.principal.is_admin or (d is not None and d.public)

    async def list(self, ctx: Context, q: CollectionQuery) -> tuple[list[dict[str, Any]], bool]:
        names = [n for n in ctx.services.settings.names() if self._visible(ctx, n)]
        for c in q.conditions:
            names = [n for n in names if _matches(n, c.modifier, c.value)]
        names.sort(reverse=q.order == "desc")
        page = names[q.marker: q.marker + q.limit]
        return [self._render(ctx, n) for n in page], q.marker + q.limit < len(names)

    async def get(self, ctx: Context, wire_id: str) -> dict[str, Any]:
        if wire_id not in ctx.services.settings.names() or not self._visible(ctx, wire_id):
            raise NotFound(f"no setting {wire_id!r}", field_name="id")
        return self._render(ctx, wire_id)

    async def update(self, ctx: Context, wire_id: str, body: dict[str, Any]) -> dict[str, Any]:
        forbid_unless_admin(ctx, "change settings")
        await self.get(ctx, wire_id)
        values = check_input(self, body, creating=False)
        if "value" not in values:
            raise ValidationError("value is required", code="MissingRequired", field_name="value")
        await ctx.services.settings.set(wire_id, values["value"])
        return self._render(ctx, wire_id)

    async def create(self, ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
        forbid_unless_admin(ctx, "change settings")
        values = check_input(self, body, creating=True)
        await ctx.services.settings.set(values["name"], values["value"])
        return self._render(ctx, values["name"])


def _matches(name: str, modifier: str, value: Any) -> bool:
    match modifier:
        case "eq":
            return bool(name == value)
        case "ne":
            return bool(name != value)
        case "prefix":
            return name.startswith(value)
        case "lt":
            return bool(name < value)
        case "lte":
            return bool(name <= value)
        case "gt":
            return bool(name > value)
        case "gte":
            return bool(name >= value)
        case "like" | "notlike":
            import fnmatch

            hit = fnmatch.fnmatchcase(name, str(value).replace("%", "*").replace("_", "?"))
            return hit if modifier == "like" else not hit
        case "null":
            return False
        case _:
            return True
