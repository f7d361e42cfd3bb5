"""The JSON documents of the API that are not single resources: root, schemas, collections."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from corral.api.context import Context
from corral.api.query import CollectionQuery
from corral.api.resource import ResourceType


def schema_json(ctx: Context, rtype: ResourceType) -> dict[str, Any]:
    """The gdapi ``schema`` resource describing ``rtype``."""
    out: dict[str, Any] = {
        "id": rtype.name,
        "type": "schema",
        "pluralName": rtype.plural,
        "links": {"self": f"{ctx.base_url}/schemas/{rtype.name}"},
        "collectionMethods": list(rtype.collection_methods),
        "resourceMethods": list(rtype.resource_methods),
        "resourceFields": {f.name: f.schema() for f in rtype.fields},
        "resourceActions": {
            a.name: {"input": a.input, "output": a.output or rtype.name}
            for a in rtype.actions.values() if ctx.principal.is_admin or not a.admin_only
        },
        "collectionFilters": {
            name: {"modifiers": list(f.modifiers())} for name, f in rtype.filters().items()
        },
        "collectionActions": {
            a.name: {"input": a.input, "output": a.output}
            for a in rtype.collection_actions.values()
        },
    }
    if rtype.listed:
        out["links"]["collection"] = rtype.collection_url(ctx)
    if rtype.description:
        out["description"] = rtype.description
    return out


def schemas_collection(ctx: Context, types: list[ResourceType]) -> dict[str, Any]:
    return {
        "type": "collection",
        "resourceType": "schema",
        "links": {"self": f"{ctx.base_url}/schemas"},
        "createTypes": {},
        "actions": {},
        "data": [schema_json(ctx, t) for t in types],
    }


def api_root(ctx: Context, types: list[ResourceType]) -> dict[str, Any]:
    links = {"self": ctx.base_url, "schemas": f"{ctx.base_url}/schemas"}
    for t in types:
        if t.listed:
            links[t.plural] = t.collection_url(ctx)
    return {"id": "v1", "type": "apiVersion", "links": links, "actions": {}}


def collection_json(ctx: Context, rtype: ResourceType, q: CollectionQuery,
                    data: list[dict[str, Any]], more: bool,
                    params: list[tuple[str, str]]) -> dict[str, Any]:
    url = rtype.collection_url(ctx)
    keep = [(k, v) for k, v in params if k != "marker"]

    def with_params(extra: list[tuple[str, str]]) -> str:
        query = urlencode(keep + extra)
        return f"{url}?{query}" if query else url

    pagination: dict[str, Any] = {"first": with_params([]), "limit": q.limit, "partial": more}
    if more:
        pagination["next"] = with_params([("marker", f"m{q.marker + q.limit}")])
    if q.marker:
        pagination["previous"] = with_params([("marker", f"m{max(0, q.marker - q.limit)}")])
    filters: dict[str, list[dict[str, Any]]] = {name: [] for name in rtype.filters()}
    for c in q.conditions:
        filters[c.field.name].append({"modifier": c.modifier, "value": c.value})
    sort_links = {
        name: with_params([(k, v) for k, v in [("sort", name)]])
        for name in rtype.filters()
    }
    sort = None
    if q.sort:
        reverse = "desc" if q.order == "asc" else "asc"
        sort = {"name": q.sort, "order": q.order,
                "reverse": with_params([("order", reverse)])}
    create_types = {rtype.name: url} if "POST" in rtype.collection_methods else {}
    return {
        "type": "collection",
        "resourceType": rtype.name,
        "links": {"self": with_params([("marker", f"m{q.marker}")] if q.marker else [])},
        "createTypes": create_types,
        "actions": {},
        "pagination": pagination,
        "sort": sort,
        "sortLinks": sort_links,
        "filters": filters,
        "data": data,
    }
