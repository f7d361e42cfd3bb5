"""Cattle-style ids on the wire: ``1`` + a short per-type prefix + the row number.

``1a5`` is account 5, ``1i23`` instance 23, ``1pi9`` process instance 9. Clients
treat them as opaque strings; the server parses them back and refuses an id whose
prefix belongs to another type.
"""

from __future__ import annotations

import re

from corral.errors import ProtocolError

# One prefix per table; a type that lives in another type's table (project is an
# account, apikey and registrationToken are credentials) shares that prefix.
PREFIXES: dict[str, str] = {
    "account": "a",
    "project": "a",
    "credential": "c",
    "apikey": "c",
    "agentApiKey": "c",
    "registrationToken": "c",
    "agent": "ag",
    "host": "h",
    "instance": "i",
    "volume": "v",
    "stack": "st",
    "service": "s",
    "processInstance": "pi",
    "processExecution": "pe",
    "containerEvent": "ce",
    "serviceEvent": "se",
}

_ID_RE = re.compile(r"^1([a-z]+)([1-9][0-9]{0,17})$")


def format_id(resource_type: str, row_id: int | None) -> str | None:
    """The wire id of row ``row_id`` of ``resource_type`` (None stays None)."""
    if row_id is None:
        return None
    return f"1{PREFIXES[resource_type]}{row_id}"


def parse_id(resource_type: str, wire_id: str) -> int:
    """The row number behind ``wire_id``; ProtocolError if it is not one of ``resource_type``.

    A bare positive integer is accepted too, as Cattle did.
    """
    if wire_id.isascii() and wire_id.isdigit() and not wire_id.startswith("0") \
            and len(wire_id) <= 18:  # isdigit() alone takes "²", which int() refuses
        return int(wire_id)
    m = _ID_RE.match(wire_id)
    if m is None or m.group(1) != PREFIXES.get(resource_type):
        raise ProtocolError(f"not a valid {resource_type} id: {wire_id!r}", field_name="id")
    return int(m.group(2))
