"""Collection queries: filters with modifiers, sort, and pagination from query parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from corral.api.fields import FILTER_MODIFIERS, Field, parse_filter_value
from corral.errors import ProtocolError, ValidationError
from corral.protocol.ids import parse_id

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Query parameters that are not filters and are never rejected as unknown.
RESERVED = frozenset({"limit", "marker", "sort", "order", "include", "action", "_"})


@dataclass(slots=True)
class Condition:
    field: Field
    modifier: str
    value: Any


@dataclass(slots=True)
class CollectionQuery:
    conditions: list[Condition] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    marker: int = 0  # offset of the first row of this page
    sort: str | None = None
    order: str = "asc"


def parse_query(
    params: list[tuple[str, str]], filters: dict[str, Field], resource_type: str
) -> CollectionQuery:
    """Turn ``?name_prefix=a&limit=5`` into a CollectionQuery; 422 naming the bad parameter."""
    q = CollectionQuery()
    for key, raw in params:
        if key == "limit":
            q.limit = _parse_int(key, raw, 1, MAX_LIMIT)
        elif key == "marker":
            if not raw.startswith("m") or not raw[1:].isdigit() or len(raw) > 19:
                raise ValidationError(f"marker {raw!r} is not one this server handed out",
                                      field_name="marker")
            q.marker = int(raw[1:])
        elif key == "sort":
            if raw not in filters:
                raise ValidationError(f"cannot sort by {raw!r}", code="InvalidOption",
                                      field_name="sort")
            q.sort = raw
        elif key == "order":
            if raw not in ("asc", "desc"):
                raise ValidationError("order must be asc or desc", code="InvalidOption",
                                      field_name="order")
            q.order = raw
        elif key in RESERVED:
            continue
        else:
            q.conditions.append(_parse_condition(key, raw, filters, resource_type))
    return q


def _parse_int(key: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{key} must be an integer", field_name=key) from None
    if not low <= value <= high:
        raise ValidationError(f"{key} must be between {low} and {high}", code="InvalidOption",
                              field_name=key)
    return value


def _parse_condition(
    key: str, raw: str, filters: dict[str, Field], resource_type: str
) -> Condition:
    name, modifier = key, "eq"
    if key not in filters and "_" in key:
        name, _, modifier = key.rpartition("_")
    f = filters.get(name)
    if f is None:
        raise ValidationError(f"{name!r} is not a filter of this collection",
                              code="InvalidOption", field_name=name)
    if modifier not in FILTER_MODIFIERS or modifier not in f.modifiers():
        raise ValidationError(f"{modifier!r} is not a modifier of filter {name!r}; use one of "
                              f"{', '.join(f.modifiers())}", code="InvalidOption", field_name=key)
    if modifier in ("null", "notnull"):
        return Condition(f, modifier, None)
    if f.name == "id":
        return Condition(f, modifier, _parse_ref(resource_type, raw))
    if f.reference_type is not None:
        return Condition(f, modifier, _parse_ref(f.reference_type, raw))
    return Condition(f, modifier, parse_filter_value(f, raw))


def _parse_ref(resource_type: str, raw: str) -> int:
    try:
        return parse_id(resource_type, raw)
    except (ProtocolError, KeyError):
        # An id that cannot exist matches nothing, which is what a filter on it should show.
        return -1


def where_clauses(table: sa.Table, conditions: list[Condition]) -> list[Any]:
    out = []
    for c in conditions:
        col = table.c[c.field.column]  # type: ignore[index]
        v = c.value
        match c.modifier:
            case "eq":
                out.append(col == v)
            case "ne":
                out.append(sa.or_(col != v, col.is_(None)))
            case "lt":
                out.append(col < v)
            case "lte":
                out.append(col <= v)
            case "gt":
                out.append(col > v)
            case "gte":
                out.append(col >= v)
            case "prefix":
                out.append(col.startswith(v, autoescape=True))
            case "like":
                out.append(col.like(v))
            case "notlike":
                out.append(sa.not_(col.like(v)))
            case "null":
                out.append(col.is_(None))
            case "notnull":
                out.append(col.is_not(None))
    return out
