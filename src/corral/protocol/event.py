"""The event: one JSON object per WebSocket text message (wire protocol §2).

``Event`` holds the wire fields under snake_case attribute names; ``encode`` and
``decode`` translate to and from the camelCase JSON. Empty optional fields are left out
of the JSON, except ``data``, which is always present as an object or null.

Two rules of the wire that this module keeps:

* ``previousIds``, ``previousNames`` and ``transitioningProgress`` belong on replies only:
  the Go event-subscriber 1.x declares them as strings and drops a request event that
  carries a list or a number there. ``Event.new`` never sets them; ``reply_to`` does.
* ``seq`` is corral's stream sequence (§7): sent only when set.

Pure: no I/O, no asyncio.
"""

from __future__ import annotations

import dataclasses
import math
import time as _time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from corral.errors import ProtocolError
from corral.protocol import names

__all__ = [
    "TRANSITIONING_VALUES",
    "Event",
    "decode",
    "encode",
    "from_wire",
    "new_id",
    "now_millis",
    "reply_to",
    "to_wire",
]

TRANSITIONING_VALUES = frozenset({"yes", "no", "error"})


def new_id() -> str:
    """A fresh event id (UUID4, canonical text form)."""
    return str(uuid.uuid4())


def now_millis() -> int:
    """The current time in epoch milliseconds, as events carry it."""
    return _time.time_ns() // 1_000_000


@dataclass(slots=True, kw_only=True)
class Event:
    """One event. Treat it as immutable once published: the bus and the log share it."""

    id: str
    name: str
    reply_to: str | None = None
    resource_id: str | None = None
    resource_type: str | None = None
    publisher: str | None = None
    previous_ids: list[str] | None = None
    previous_names: list[str] | None = None
    data: dict[str, Any] | None = None
    time: int | None = None
    timeout_millis: int | None = None
    transitioning: str | None = None
    transitioning_message: str | None = None
    transitioning_internal_message: str | None = None
    transitioning_progress: int | None = None
    context: dict[str, str] | None = None
    seq: int | None = None

    @classmethod
    def new(cls, name: str, **fields: Any) -> Event:
        """A new event named ``name`` with a fresh UUID4 id and the current time."""
        names.validate(name)
        fields.setdefault("time", now_millis())
        return cls(id=new_id(), name=name, **fields)

    @property
    def is_reply(self) -> bool:
        return self.name.startswith(names.REPLY_PREFIX)

    @property
    def correlation_id(self) -> str | None:
        """``previousIds[0]``: the id of the request this event answers, if any."""
        ids = self.previous_ids
        return ids[0] if ids else None

    def copy(self, **changes: Any) -> Event:
        """A shallow copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def renewed(self) -> Event:
        """The same event sent again as a new one: new id, new time, no seq."""
        return dataclasses.replace(self, id=new_id(), time=now_millis(), seq=None)


# ---------------------------------------------------------------------------- encoding


def to_wire(event: Event, *, name: str | None = None) -> dict[str, Any]:
    """The JSON object for ``event``; ``name`` overrides the event's name (delivery)."""
    data = event.data
    if data is not None and not isinstance(data, dict):
        raise ProtocolError(
            f"data must be an object or null, not {type(data).__name__}", field_name="data"
        )
    wire: dict[str, Any] = {"id": event.id, "name": event.name if name is None else name}
    if event.reply_to:
        wire["replyTo"] = event.reply_to
    if event.resource_id:
        wire["resourceId"] = event.resource_id
    if event.resource_type:
        wire["resourceType"] = event.resource_type
    if event.publisher:
        wire["publisher"] = event.publisher
    if event.previous_ids:
        wire["previousIds"] = event.previous_ids
    if event.previous_names:
        wire["previousNames"] = event.previous_names
    wire["data"] = data
    if event.time is not None:
        wire["time"] = event.time
    if event.timeout_millis is not None:
        wire["timeoutMillis"] = event.timeout_millis
    if event.transitioning:
        wire["transitioning"] = event.transitioning
    if event.transitioning_message:
        wire["transitioningMessage"] = event.transitioning_message
    if event.transitioning_internal_message:
        wire["transitioningInternalMessage"] = event.transitioning_internal_message
    if event.transitioning_progress is not None:
        wire["transitioningProgress"] = event.transitioning_progress
    if event.context:
        wire["context"] = event.context
    if event.seq is not None:
        wire["seq"] = event.seq
    return wire


def encode(event: Event, *, name: str | None = None) -> bytes:
    """``event`` as a UTF-8 JSON frame; ``name`` overrides the name (e.g. stripped)."""
    wire = to_wire(event, name=name)
    try:
        return orjson.dumps(wire)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise ProtocolError(f"event cannot be encoded as JSON: {exc}", field_name="data") from None


# ---------------------------------------------------------------------------- decoding


def decode(raw: bytes | bytearray | memoryview | str) -> Event:
    """Parse one frame. Raises ProtocolError (with ``field_name``) if it is malformed."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"event is not valid JSON: {exc}") from None
    return from_wire(obj)


def from_wire(obj: object) -> Event:
    """Build an Event from a parsed JSON value, checking every field.

    Unknown keys are ignored (forward compatibility); ``null`` and ``""`` mean absent.
    A missing ``id`` gets a fresh one, as Cattle did for events posted without it.
    """
    if not isinstance(obj, dict):
        raise ProtocolError(f"an event must be a JSON object, not {_json_type(obj)}")
    name = obj.get("name")
    if name is None:
        raise ProtocolError("event has no name", field_name="name")
    names.validate(name, field_name="name")
    event_id = _opt_str(obj, "id") or new_id()
    reply_name = _opt_str(obj, "replyTo")
    if reply_name is not None:
        names.validate(reply_name, field_name="replyTo")
    data = obj.get("data")
    if data is not None and not isinstance(data, dict):
        raise ProtocolError(
            f"data must be an object or null, not {_json_type(data)}", field_name="data"
        )
    transitioning = _opt_str(obj, "transitioning")
    if transitioning is not None and transitioning not in TRANSITIONING_VALUES:
        raise ProtocolError(
            f"transitioning must be yes, no or error, not {transitioning[:32]!r}",
            field_name="transitioning",
        )
    return Event(
        id=event_id,
        name=name,
        reply_to=reply_name,
        resource_id=_opt_str(obj, "resourceId"),
        resource_type=_opt_str(obj, "resourceType"),
        publisher=_opt_str(obj, "publisher"),
        previous_ids=_opt_str_list(obj, "previousIds"),
        previous_names=_opt_str_list(obj, "previousNames"),
        data=data,
        time=_opt_int(obj, "time", minimum=0, truncate=True),
        timeout_millis=_opt_int(obj, "timeoutMillis", minimum=0),
        transitioning=transitioning,
        transitioning_message=_opt_str(obj, "transitioningMessage"),
        transitioning_internal_message=_opt_str(obj, "transitioningInternalMessage"),
        transitioning_progress=_opt_int(obj, "transitioningProgress", minimum=0, maximum=100),
        context=_opt_context(obj),
        seq=_opt_int(obj, "seq", minimum=1),
    )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _opt_str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"{key} must be a string, not {_json_type(value)}", field_name=key)
    return value


def _opt_str_list(obj: dict[str, Any], key: str) -> list[str] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise ProtocolError(
            f"{key} must be an array of strings, not {_json_type(value)}", field_name=key
        )
    for item in value:
        if not isinstance(item, str):
            raise ProtocolError(
                f"{key} must hold strings only, found {_json_type(item)}", field_name=key
            )
    return value or None


def _opt_int(
    obj: dict[str, Any],
    key: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    truncate: bool = False,
) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{key} must be a number, not {_json_type(value)}", field_name=key)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ProtocolError(f"{key} must be a finite number", field_name=key)
        if truncate:
            value = int(value)
        elif not value.is_integer():
            raise ProtocolError(f"{key} must be a whole number, not {value}", field_name=key)
        value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ProtocolError(f"{key} must be {bounds}, not {value}", field_name=key)
    return value


def _opt_context(obj: dict[str, Any]) -> dict[str, str] | None:
    value = obj.get("context")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError(
            f"context must be an object, not {_json_type(value)}", field_name="context"
        )
    for key, item in value.items():
        if not isinstance(item, str):
            raise ProtocolError(
                f"context values must be strings, {key!r} is {_json_type(item)}",
                field_name="context",
            )
    return value or None


# ---------------------------------------------------------------------------- replies


def reply_to(
    request: Event,
    *,
    data: dict[str, Any] | None = None,
    transitioning: str | None = None,
    message: str | None = None,
    progress: int | None = None,
    internal_message: str | None = None,
) -> Event:
    """The reply to call ``request``: named ``request.replyTo``, correlated by its id.

    ``transitioning`` is None/"no" (final success), "yes" (progress, not final) or
    "error" (final failure, ``message`` says why).
    """
    if not request.reply_to:
        raise ProtocolError(
            f"event {request.name!r} has no replyTo: it is not a call", field_name="replyTo"
        )
    if transitioning is not None and transitioning not in TRANSITIONING_VALUES:
        raise ProtocolError(
            f"transitioning must be yes, no or error, not {transitioning!r}",
            field_name="transitioning",
        )
    if progress is not None and (
        isinstance(progress, bool) or not isinstance(progress, int) or not 0 <= progress <= 100
    ):
        raise ProtocolError(
            f"transitioningProgress must be an integer 0-100, not {progress!r}",
            field_name="transitioningProgress",
        )
    if data is not None and not isinstance(data, dict):
        raise ProtocolError("data must be an object or null", field_name="data")
    return Event(
        id=new_id(),
        name=request.reply_to,
        resource_id=request.resource_id,
        resource_type=request.resource_type,
        previous_ids=[request.id],
        previous_names=[request.name],
        data=data,
        time=now_millis(),
        transitioning=transitioning,
        transitioning_message=message,
        transitioning_internal_message=internal_message,
        transitioning_progress=progress,
    )
