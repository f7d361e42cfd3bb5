"""The REST layer: one aiohttp handler that resolves ``/v1/…`` paths onto resource types.

Path forms (after ``/v1``): ``""`` root, ``schemas[/<id>]``, ``openapi.json``,
``<plural>``, ``<plural>/<id>`` (``?action=<name>`` on POST), and all of these again
below ``projects/<projectId>/``. ``projects/<id>`` alone is the project resource,
which also serves as the API root of that project for clients such as ``cattle``.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import sqlalchemy as sa
from aiohttp import web

from corral.api.context import Context, Principal
from corral.api.openapi import openapi_document
from corral.api.query import parse_query
from corral.api.render import api_root, collection_json, schema_json, schemas_collection
from corral.errors import ApiError, NotFound, ProtocolError, ValidationError
from corral.protocol.ids import parse_id
from corral.server.services import Services
from corral.store import tables

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", Services)
PRINCIPAL_KEY = web.RequestKey("principal", Principal)
MAX_BODY = 1024 * 1024


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def json_response(obj: Any, *, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    return web.Response(body=dumps(obj), status=status, content_type="application/json",
                        headers=headers)


def root_url(request: web.Request) -> str:
    configured = request.app[SERVICES].settings.get("api.url")
    if configured:
        return configured.rstrip("/")
    return f"{request.scheme}://{request.host}/v1"


async def resolve_scope(request: web.Request, services: Services, principal: Principal,
                        project_wire_id: str | None) -> Context:
    """The request's Context; 404 for a project this key may not see."""
    project_id = principal.project_id
    scoped = False
    if project_wire_id is not None:
        try:
            wanted = parse_id("project", project_wire_id)
        except ProtocolError:
            raise NotFound(f"project {project_wire_id!r} not found", field_name="projectId") \
                from None
        if not principal.is_admin and wanted != principal.project_id:
            raise NotFound(f"project {project_wire_id!r} not found", field_name="projectId")
        a = tables.account
        row = await services.store.fetch_one(sa.select(a.c.id).where(
            a.c.id == wanted, a.c.kind == "project", a.c.state.in_(("active", "inactive"))))
        if row is None:
            raise NotFound(f"project {project_wire_id!r} not found", field_name="projectId")
        project_id, scoped = wanted, True
    return Context(principal=principal, project_id=project_id, root_url=root_url(request),
                   services=services, scoped_url=scoped)


async def read_body(request: web.Request) -> dict[str, Any]:
    """The JSON object in the body (empty body = {}), whatever Content-Type says."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ApiError(f"the body is not valid JSON: {e}", status=400,
                       code="InvalidBodyContent") from None
    if not isinstance(body, dict):
        raise ApiError("the body must be a JSON object", status=400, code="InvalidBodyContent")
    return body


def _method_not_allowed(what: str, method: str) -> ApiError:
    return ApiError(f"{method} is not allowed on {what}", status=405, code="MethodNotAllowed")


async def handle_register(request: web.Request) -> web.StreamResponse:
    """``POST /v1/register``: authenticated by its registration token, not by a key."""
    from corral.resources.registration import handle_register as register

    services = request.app[SERVICES]
    out = await register(request, services, await read_body(request), root_url(request))
    return json_response(out, status=201)


async def handle_v1(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    principal: Principal = request[PRINCIPAL_KEY]
    parts = [p for p in request.match_info["tail"].split("/") if p]
    project_wire_id = None
    if len(parts) >= 3 and parts[0] == "projects":
        project_wire_id, parts = parts[1], parts[2:]
    ctx = await resolve_scope(request, services, principal, project_wire_id)
    method = request.method
    registry = services.registry

    def visible() -> list[Any]:  # the types this caller sees (the root, schemas, openapi)
        return [t for t in registry if t.visible_to(ctx)]

    if not parts:
        if method != "GET":
            raise _method_not_allowed("the API root", method)
        return json_response(api_root(ctx, visible()),
                             headers={"X-API-Schemas": f"{ctx.base_url}/schemas"})
    head = parts[0]
    if head == "schemas" and len(parts) <= 2:
        if method != "GET":
            raise _method_not_allowed("schemas", method)
        if len(parts) == 1:
            return json_response(schemas_collection(ctx, visible()))
        t = registry.get(parts[1])
        if t is None or not t.visible_to(ctx):
            raise NotFound(f"no schema {parts[1]!r}", field_name="id")
        return json_response(schema_json(ctx, t))
    if head == "openapi.json" and len(parts) == 1:
        return json_response(openapi_document(ctx, visible()))
    rtype = registry.by_plural(head)
    if rtype is None or not rtype.visible_to(ctx) or len(parts) > 2:
        raise NotFound(f"no such path: {request.path}")
    if head == "subscribe" and len(parts) == 1 and method == "GET":
        from corral.server.websocket import handle_subscribe

        return await handle_subscribe(request, ctx)
    if head == "publish" and len(parts) == 1 and method == "POST":
        from corral.server.publish import handle_publish

        return await handle_publish(request, ctx, await read_body(request))

    if len(parts) == 1:
        if method == "GET" and "GET" in rtype.collection_methods:
            params = list(request.query.items())
            q = parse_query(params, rtype.filters(), rtype.name)
            data, more = await rtype.list(ctx, q)
            return json_response(collection_json(ctx, rtype, q, data, more, params))
        if method == "POST" and "POST" in rtype.collection_methods:
            return json_response(await rtype.create(ctx, await read_body(request)), status=201)
        raise _method_not_allowed(f"the {rtype.plural} collection", method)

    wire_id = parts[1]
    if project_wire_id is None and head == "projects" and method == "GET":
        # /v1/projects/<id> is also that project's API root (cattle's Client(url=…)).
        out = await rtype.get(ctx, wire_id)
        return json_response(out, headers={"X-API-Schemas": f"{out['links']['self']}/schemas"})
    action = request.query.get("action")
    if method == "POST" and action is not None:
        return json_response(await rtype.action(ctx, wire_id, action, await read_body(request)))
    if method == "GET" and "GET" in rtype.resource_methods:
        return json_response(await rtype.get(ctx, wire_id))
    if method == "PUT" and "PUT" in rtype.resource_methods:
        return json_response(await rtype.update(ctx, wire_id, await read_body(request)))
    if method == "DELETE" and "DELETE" in rtype.resource_methods:
        return json_response(await rtype.delete(ctx, wire_id))
    if method == "POST":
        raise ValidationError("POST on a resource needs ?action=<name>", code="MissingRequired",
                              field_name="action")
    raise _method_not_allowed(f"a {rtype.name}", method)
