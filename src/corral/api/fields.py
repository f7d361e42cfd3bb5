"""Fields of a resource type: their gdapi schema and the validation of input values.

A field is declared once; from it come the ``resourceFields`` entry of the schema,
the OpenAPI property, the check of create/update input and the filters it allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from corral.errors import ValidationError

FILTER_MODIFIERS = ("eq", "ne", "lt", "lte", "gt", "gte", "prefix", "like", "notlike", "null",
                    "notnull")
# Modifiers that make sense per field type; a filter on a field offers only these.
_STRING_MODIFIERS = FILTER_MODIFIERS
_ORDERED_MODIFIERS = ("eq", "ne", "lt", "lte", "gt", "gte", "null", "notnull")
_EQ_MODIFIERS = ("eq", "ne", "null", "notnull")


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a resource type, as the API shows it (camelCase ``name``)."""

    name: str
    type: str = "string"
    column: str | None = None  # the table column; None: kept in the row's JSON ``data``
    create: bool = False
    update: bool = False
    required: bool = False
    nullable: bool = True
    default: Any = None
    min_length: int | None = None
    max_length: int | None = None
    min: int | None = None
    max: int | None = None
    valid_chars: str | None = None  # a regex character class body, e.g. "a-zA-Z0-9_.-"
    options: tuple[str, ...] = ()
    filter: bool = False
    description: str | None = None

    @property
    def reference_type(self) -> str | None:
        if self.type.startswith("reference[") and self.type.endswith("]"):
            return self.type[len("reference["):-1]
        return None

    def modifiers(self) -> tuple[str, ...]:
        if self.column == "id":  # a wire id is a row number underneath: no text matching
            return _ORDERED_MODIFIERS
        if self.type in ("string", "enum") and self.reference_type is None:
            return _STRING_MODIFIERS if self.type == "string" else _EQ_MODIFIERS
        if self.type in ("int", "date"):
            return _ORDERED_MODIFIERS
        return _EQ_MODIFIERS

    def schema(self) -> dict[str, Any]:
        """The gdapi ``resourceFields`` entry."""
        out: dict[str, Any] = {"type": self.type, "create": self.create, "update": self.update,
                               "nullable": self.nullable, "required": self.required}
        if self.default is not None:
            out["default"] = self.default
        for key, value in (("minLength", self.min_length), ("maxLength", self.max_length),
                           ("min", self.min), ("max", self.max), ("validChars", self.valid_chars),
                           ("description", self.description)):
            if value is not None:
                out[key] = value
        if self.options:
            out["options"] = list(self.options)
        return out

    def validate(self, value: Any) -> Any:
        """The value to store for input ``value``; ValidationError naming the field otherwise."""
        if value is None:
            if not self.nullable or self.required:
                raise ValidationError(f"{self.name} may not be null", code="NotNullable",
                                      field_name=self.name)
            return None
        checker = _CHECKERS.get(self.type)
        if checker is None:
            if self.reference_type is not None:
                checker = _check_reference
            else:  # json and anything free-form
                return value
        return checker(self, value)


def _fail(field: Field, message: str, code: str = "InvalidFormat") -> ValidationError:
    return ValidationError(message, code=code, field_name=field.name)


def _check_string(field: Field, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(field, f"{field.name} must be a string")
    if "\x00" in value:
        raise _fail(field, f"{field.name} may not contain NUL characters", "InvalidCharacters")
    if field.max_length is not None and len(value) > field.max_length:
        raise _fail(field, f"{field.name} is longer than {field.max_length} characters",
                    "MaxLengthExceeded")
    if field.min_length is not None and len(value) < field.min_length:
        raise _fail(field, f"{field.name} is shorter than {field.min_length} characters",
                    "MinLengthExceeded")
    if field.valid_chars is not None and not re.fullmatch(f"[{field.valid_chars}]*", value):
        raise _fail(field, f"{field.name} may only contain the characters [{field.valid_chars}]",
                    "InvalidCharacters")
    return value


def _check_enum(field: Field, value: Any) -> str:
    if not isinstance(value, str) or value not in field.options:
        raise _fail(field, f"{field.name} must be one of {', '.join(field.options)}",
                    "InvalidOption")
    return value


def _check_int(field: Field, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, f"{field.name} must be an integer")
    if field.max is not None and value > field.max:
        raise _fail(field, f"{field.name} must be at most {field.max}", "MaxLimitExceeded")
    if field.min is not None and value < field.min:
        raise _fail(field, f"{field.name} must be at least {field.min}", "MinLimitExceeded")
    return value


def _check_bool(field: Field, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(field, f"{field.name} must be true or false")
    return value


def _check_date(field: Field, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(field, f"{field.name} must be an ISO-8601 date")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(field, f"{field.name} must be an ISO-8601 date") from None
    return value


def _check_map(field: Field, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _fail(field, f"{field.name} must be a map of strings to strings")
    for k, v in value.items():
        if "\x00" in k or "\x00" in v:
            raise _fail(field, f"{field.name} may not contain NUL characters", "InvalidCharacters")
        if field.max_length is not None and len(v) > field.max_length:
            raise _fail(field, f"{field.name}[{k}] is longer than {field.max_length} characters",
                        "MaxLengthExceeded")
    return value


def _check_array(field: Field, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(field, f"{field.name} must be an array of strings")
    for v in value:
        if "\x00" in v:
            raise _fail(field, f"{field.name} may not contain NUL characters", "InvalidCharacters")
        if field.max_length is not None and len(v) > field.max_length:
            raise _fail(field, f"an item of {field.name} is longer than {field.max_length} "
                        "characters", "MaxLengthExceeded")
    return value


def _check_reference(field: Field, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(field, f"{field.name} must be the id of a {field.reference_type}")
    return value  # resolved (and checked for existence and visibility) by the type's handler


_CHECKERS = {
    "string": _check_string,
    "password": _check_string,
    "enum": _check_enum,
    "int": _check_int,
    "boolean": _check_bool,
    "date": _check_date,
    "map[string]": _check_map,
    "array[string]": _check_array,
}


def parse_filter_value(field: Field, raw: str) -> Any:
    """A query-string filter value converted to the field's type."""
    if field.type in ("int", "date"):
        # A date column holds epoch milliseconds: filter by those or by an ISO-8601 date.
        try:
            value = int(raw)
        except ValueError:
            value = _iso_millis(raw) if field.type == "date" else None
        if value is None or not -(2**63) <= value < 2**63:
            what = "an ISO-8601 date or epoch milliseconds" if field.type == "date" else \
                "an integer"
            raise _fail(field, f"filter {field.name} needs {what}, got {raw!r}")
        return value
    if field.type == "boolean":
        if raw.lower() not in ("true", "false"):
            raise _fail(field, f"filter {field.name} needs true or false, got {raw!r}")
        return raw.lower() == "true"
    if "\x00" in raw:
        raise _fail(field, f"filter {field.name} may not contain NUL characters",
                    "InvalidCharacters")
    return raw


def _iso_millis(raw: str) -> int | None:
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return round(dt.timestamp() * 1000)
