from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from corral.errors import ProtocolError
from corral.protocol.event import Event, decode, encode, from_wire, reply_to, to_wire


def full_event() -> Event:
    return Event(
        id="5e0c6c8e-8b9f-4a36-9a1f-1c2d3e4f5a6b",
        name="reply.42",
        reply_to="reply.43",
        resource_id="1i23",
        resource_type="instance",
        publisher="agent/7",
        previous_ids=["a", "b"],
        previous_names=["compute.instance.activate"],
        data={"instance": {"uuid": "x", "ports": [1, 2]}, "ok": True},
        time=1_700_000_000_123,
        timeout_millis=15_000,
        transitioning="yes",
        transitioning_message="pulling image",
        transitioning_internal_message="layer 3/7",
        transitioning_progress=42,
        context={"processId": "30"},
        seq=99,
    )


def wire(frame: bytes) -> dict[str, Any]:
    result = orjson.loads(frame)
    assert isinstance(result, dict)
    return result


def test_round_trip_keeps_every_field() -> None:
    event = full_event()
    assert decode(encode(event)) == event
    assert decode(encode(event).decode()) == event


def test_wire_names_are_camel_case() -> None:
    assert set(wire(encode(full_event()))) == {
        "id",
        "name",
        "replyTo",
        "resourceId",
        "resourceType",
        "publisher",
        "previousIds",
        "previousNames",
        "data",
        "time",
        "timeoutMillis",
        "transitioning",
        "transitioningMessage",
        "transitioningInternalMessage",
        "transitioningProgress",
        "context",
        "seq",
    }


def test_new_event_has_uuid4_id_and_millisecond_time_and_no_reply_fields() -> None:
    event = Event.new("compute.instance.activate;agent=7", data={"a": 1})
    assert uuid.UUID(event.id).version == 4
    assert event.time is not None and event.time > 1_600_000_000_000
    out = wire(encode(event))
    assert out == {"id": event.id, "name": event.name, "data": {"a": 1}, "time": event.time}
    assert "previousIds" not in out and "previousNames" not in out
    assert "transitioningProgress" not in out and "seq" not in out


def test_new_event_rejects_bad_name() -> None:
    with pytest.raises(ProtocolError):
        Event.new("bad name")


def test_empty_optional_fields_are_left_out_but_data_is_always_there() -> None:
    event = Event(id="x", name="ping", previous_ids=[], context={}, publisher="")
    assert wire(encode(event)) == {"id": "x", "name": "ping", "data": None}


def test_encode_can_override_the_delivered_name() -> None:
    event = Event.new("resource.change;account=5")
    assert wire(encode(event, name="resource.change"))["name"] == "resource.change"
    assert to_wire(event)["name"] == "resource.change;account=5"


def test_seq_is_sent_only_when_set() -> None:
    event = Event.new("resource.change")
    assert "seq" not in wire(encode(event))
    event.seq = 7
    assert wire(encode(event))["seq"] == 7


@pytest.mark.parametrize("data", [[1, 2], "text", 3])
def test_encode_refuses_data_that_is_not_an_object(data: Any) -> None:
    with pytest.raises(ProtocolError) as info:
        encode(Event(id="x", name="a", data=data))
    assert info.value.field_name == "data"


def test_encode_refuses_unserialisable_data() -> None:
    with pytest.raises(ProtocolError) as info:
        encode(Event(id="x", name="a", data={"when": object()}))
    assert info.value.field_name == "data"


def test_decode_accepts_a_go_subscriber_reply() -> None:
    event = decode(b'{"name":"reply.77","previousIds":["abc"],"data":null}')
    assert event.name == "reply.77"
    assert event.previous_ids == ["abc"]
    assert event.correlation_id == "abc"
    assert event.is_reply
    assert uuid.UUID(event.id).version == 4  # filled in


def test_decode_treats_null_and_empty_string_as_absent() -> None:
    event = decode(
        b'{"id":"1","name":"ping","replyTo":"","resourceId":null,"publisher":null,'
        b'"previousIds":null,"previousNames":null,"transitioning":"","context":null,'
        b'"time":null,"seq":null}'
    )
    assert event == Event(id="1", name="ping")


def test_decode_accepts_whole_floats_and_ignores_unknown_keys() -> None:
    event = decode(
        b'{"id":"1","name":"x","time":1.7e12,"timeoutMillis":5000.0,'
        b'"transitioningProgress":50.0,"type":"publish","links":{}}'
    )
    assert event.time == 1_700_000_000_000 and isinstance(event.time, int)
    assert event.timeout_millis == 5000
    assert event.transitioning_progress == 50


def test_decode_truncates_a_fractional_time() -> None:
    assert decode(b'{"name":"x","time":1700000000123.7}').time == 1_700_000_000_123


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", None),
        (b"[1,2]", None),
        (b'"ping"', None),
        (b"null", None),
        (b"{}", "name"),
        (b'{"name":null}', "name"),
        (b'{"name":5}', "name"),
        (b'{"name":""}', "name"),
        (b'{"name":"has space"}', "name"),
        (b'{"name":"a-b"}', "name"),
        (b'{"name":"' + b"a" * 256 + b'"}', "name"),
        (b'{"name":"a","id":5}', "id"),
        (b'{"name":"a","replyTo":7}', "replyTo"),
        (b'{"name":"a","replyTo":"reply 7"}', "replyTo"),
        (b'{"name":"a","resourceId":12}', "resourceId"),
        (b'{"name":"a","resourceType":["instance"]}', "resourceType"),
        (b'{"name":"a","publisher":{}}', "publisher"),
        (b'{"name":"a","data":[1]}', "data"),
        (b'{"name":"a","data":"x"}', "data"),
        (b'{"name":"a","data":3}', "data"),
        (b'{"name":"a","previousIds":"abc"}', "previousIds"),
        (b'{"name":"a","previousIds":[1]}', "previousIds"),
        (b'{"name":"a","previousNames":[null]}', "previousNames"),
        (b'{"name":"a","time":"now"}', "time"),
        (b'{"name":"a","time":-1}', "time"),
        (b'{"name":"a","time":true}', "time"),
        (b'{"name":"a","timeoutMillis":1.5}', "timeoutMillis"),
        (b'{"name":"a","timeoutMillis":-5}', "timeoutMillis"),
        (b'{"name":"a","transitioning":"maybe"}', "transitioning"),
        (b'{"name":"a","transitioning":true}', "transitioning"),
        (b'{"name":"a","transitioningMessage":1}', "transitioningMessage"),
        (b'{"name":"a","transitioningInternalMessage":[]}', "transitioningInternalMessage"),
        (b'{"name":"a","transitioningProgress":"50"}', "transitioningProgress"),
        (b'{"name":"a","transitioningProgress":50.5}', "transitioningProgress"),
        (b'{"name":"a","transitioningProgress":101}', "transitioningProgress"),
        (b'{"name":"a","transitioningProgress":-1}', "transitioningProgress"),
        (b'{"name":"a","transitioningProgress":true}', "transitioningProgress"),
        (b'{"name":"a","context":["x"]}', "context"),
        (b'{"name":"a","context":{"processId":30}}', "context"),
        (b'{"name":"a","seq":0}', "seq"),
        (b'{"name":"a","seq":"7"}', "seq"),
    ],
)
def test_decode_rejects_malformed_events(raw: bytes, field: str | None) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(raw)
    assert info.value.field_name == field


def test_from_wire_rejects_non_objects() -> None:
    with pytest.raises(ProtocolError):
        from_wire([{"name": "a"}])


def request() -> Event:
    return Event.new(
        "compute.instance.activate;agent=7",
        reply_to="reply.123",
        resource_id="1i5",
        resource_type="instance",
        data={"x": 1},
    )


def test_reply_to_correlates_with_the_request() -> None:
    req = request()
    reply = reply_to(req, data={"ok": True})
    assert reply.name == "reply.123"
    assert reply.previous_ids == [req.id]
    assert reply.previous_names == [req.name]
    assert reply.resource_id == "1i5" and reply.resource_type == "instance"
    assert reply.data == {"ok": True}
    assert reply.id != req.id and reply.reply_to is None
    assert reply.transitioning is None
    assert decode(encode(reply)) == reply


def test_reply_to_progress_and_error() -> None:
    req = request()
    progress = reply_to(req, transitioning="yes", message="pulling", progress=30)
    assert (progress.transitioning, progress.transitioning_message) == ("yes", "pulling")
    assert progress.transitioning_progress == 30
    error = reply_to(req, transitioning="error", message="no such image", internal_message="x")
    assert error.transitioning == "error"
    assert error.transitioning_internal_message == "x"


def test_reply_to_needs_a_call() -> None:
    with pytest.raises(ProtocolError) as info:
        reply_to(Event.new("ping"))
    assert info.value.field_name == "replyTo"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"transitioning": "done"}, "transitioning"),
        ({"progress": 101}, "transitioningProgress"),
        ({"progress": True}, "transitioningProgress"),
        ({"data": [1]}, "data"),
    ],
)
def test_reply_to_rejects_bad_values(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ProtocolError) as info:
        reply_to(request(), **kwargs)
    assert info.value.field_name == field


def test_renewed_is_a_new_event_with_the_same_payload() -> None:
    req = request()
    req.seq = 3
    again = req.renewed()
    assert again.id != req.id
    assert again.data == req.data and again.name == req.name
    assert again.seq is None
