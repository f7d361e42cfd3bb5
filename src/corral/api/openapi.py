"""An OpenAPI 3 document derived from the same type declarations as the gdapi schemas."""

from __future__ import annotations

from typing import Any

from corral.api.context import Context
from corral.api.fields import Field
from corral.api.resource import ResourceType

ERROR_REF = {"$ref": "#/components/schemas/error"}
_ERROR_RESPONSES = {
    str(code): {"description": text, "content": {"application/json": {"schema": ERROR_REF}}}
    for code, text in ((400, "malformed request"), (401, "missing or wrong credentials"),
                       (403, "not allowed for this key"), (404, "not found"),
                       (405, "method not allowed"), (422, "invalid input"))
}


def _json_schema(f: Field) -> dict[str, Any]:
    t = f.type
    out: dict[str, Any]
    if t in ("string", "password") or f.reference_type is not None:
        out = {"type": "string"}
        if f.max_length is not None:
            out["maxLength"] = f.max_length
        if f.min_length is not None:
            out["minLength"] = f.min_length
        if f.valid_chars is not None:
            out["pattern"] = f"^[{f.valid_chars}]*$"
    elif t == "enum":
        out = {"type": "string", "enum": list(f.options)}
    elif t == "int":
        out = {"type": "integer"}
        if f.min is not None:
            out["minimum"] = f.min
        if f.max is not None:
            out["maximum"] = f.max
    elif t == "boolean":
        out = {"type": "boolean"}
    elif t == "date":
        out = {"type": "string", "format": "date-time"}
    elif t == "map[string]":
        out = {"type": "object", "additionalProperties": {"type": "string"}}
    elif t == "array[string]":
        out = {"type": "array", "items": {"type": "string"}}
    else:
        out = {}
    if f.nullable and out:
        out = {**out, "nullable": True}
    if f.description:
        out["description"] = f.description
    return out


def _input_schema(rtype: ResourceType, *, creating: bool) -> dict[str, Any]:
    fields = [f for f in rtype.fields if (f.create if creating else f.update)]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {f.name: _json_schema(f) for f in fields},
        "additionalProperties": False,
    }
    required = [f.name for f in fields if creating and f.required]
    if required:
        schema["required"] = required
    return schema


def _query_parameters(rtype: ResourceType) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                     "maximum": 1000}},
        {"name": "marker", "in": "query", "schema": {"type": "string"}},
        {"name": "sort", "in": "query", "schema": {"type": "string",
                                                    "enum": sorted(rtype.filters())}},
        {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]}},
    ]
    for name, f in rtype.filters().items():
        for m in f.modifiers():
            if m in ("null", "notnull"):
                schema: dict[str, Any] = {"type": "string", "enum": [""]}
            elif f.type == "int":
                schema = {"type": "integer"}
            else:
                schema = {"type": "string"}
            params.append({"name": name if m == "eq" else f"{name}_{m}", "in": "query",
                           "schema": schema})
    return params


def _ok(ref: str, code: str = "200") -> dict[str, Any]:
    return {code: {"description": "OK", "content": {"application/json": {"schema": {
        "$ref": f"#/components/schemas/{ref}"}}}}, **_ERROR_RESPONSES}


def openapi_document(ctx: Context, types: list[ResourceType]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {
        "error": {"type": "object", "properties": {
            "type": {"type": "string"}, "status": {"type": "integer"},
            "code": {"type": "string"}, "message": {"type": "string"},
            "detail": {"type": "string"}, "fieldName": {"type": "string"}}},
        "collection": {"type": "object", "properties": {
            "type": {"type": "string"}, "resourceType": {"type": "string"},
            "data": {"type": "array", "items": {"type": "object"}}}},
    }
    for t in types:
        schemas[t.name] = {"type": "object", "properties": {
            "id": {"type": "string"}, "type": {"type": "string"},
            "links": {"type": "object"}, "actions": {"type": "object"},
            **{f.name: _json_schema(f) for f in t.fields if f.name != "id"}}}
        if not t.listed or t.name in ("subscribe",):
            continue
        coll: dict[str, Any] = {}
        if "GET" in t.collection_methods:
            coll["get"] = {"operationId": f"list_{t.name}", "parameters": _query_parameters(t),
                           "responses": _ok("collection")}
        if "POST" in t.collection_methods:
            coll["post"] = {"operationId": f"create_{t.name}",
                            "requestBody": {"required": False, "content": {"application/json": {
                                "schema": _input_schema(t, creating=True)}}},
                            "responses": _ok(t.name, "201")}
        if coll:
            paths[f"/v1/{t.plural}"] = coll
        item: dict[str, Any] = {}
        id_param = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
        if "GET" in t.resource_methods:
            item["get"] = {"operationId": f"get_{t.name}", "responses": _ok(t.name)}
        if "PUT" in t.resource_methods:
            item["put"] = {"operationId": f"update_{t.name}",
                           "requestBody": {"required": False, "content": {"application/json": {
                               "schema": _input_schema(t, creating=False)}}},
                           "responses": _ok(t.name)}
        if "DELETE" in t.resource_methods:
            item["delete"] = {"operationId": f"delete_{t.name}", "responses": _ok(t.name)}
        if t.actions:
            item["post"] = {"operationId": f"action_{t.name}", "parameters": [
                {"name": "action", "in": "query", "required": True,
                 "schema": {"type": "string", "enum": sorted(t.actions)}}],
                "requestBody": {"required": False, "content": {"application/json": {
                    "schema": {"type": "object"}}}},
                "responses": _ok(t.name)}
        if item:
            item["parameters"] = id_param
            paths[f"/v1/{t.plural}/{{id}}"] = item
    return {
        "openapi": "3.0.3",
        "info": {"title": "corral API", "version": "v1"},
        "servers": [{"url": ctx.root_url[: -len("/v1")] or "/"}],
        "security": [{"basic": []}],
        "components": {"securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
                       "schemas": schemas},
        "paths": paths,
    }
