"""``POST /v1/publish`` (§3): publish an event; non-raw callers may publish replies only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from corral.api.context import Context
from corral.api.resource import check_input
from corral.errors import Forbidden
from corral.protocol.event import from_wire, new_id, now_millis, to_wire
from corral.server.rest import json_response


async def handle_publish(request: web.Request, ctx: Context, body: dict[str, Any]
                         ) -> web.StreamResponse:
    rtype = ctx.services.registry.get("publish")
    check_input(rtype, body, creating=True)  # names the bad field, like every create
    wire = {k: v for k, v in body.items() if k not in ("type", "links", "actions", "baseType")}
    wire.setdefault("id", new_id())
    wire.setdefault("time", now_millis())
    event = from_wire(wire)
    if not ctx.principal.is_raw and not event.is_reply:
        raise Forbidden("this key may only publish replies (names starting with reply.)",
                        field_name="name")
    await ctx.services.bus.publish(event)
    return json_response({**to_wire(event), "type": "publish"}, status=201)
