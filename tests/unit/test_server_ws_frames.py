"""The WebSocket text frames the subscribe socket writes itself (RFC 6455 §5.2).

That aiohttp's client reads them back is what every test in tests/e2e shows."""

from __future__ import annotations

import pytest

from corral.server.websocket import _shared_text_frame, text_frame


@pytest.mark.parametrize("size, head", [
    (0, b"\x81\x00"),
    (125, b"\x81\x7d"),
    (126, b"\x81\x7e\x00\x7e"),
    (65535, b"\x81\x7e\xff\xff"),
    (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
])
def test_header_lengths(size: int, head: bytes) -> None:
    payload = b"x" * size
    assert text_frame(payload) == head + payload


def test_the_frame_of_one_event_is_built_once() -> None:
    event = b'{"name":"x"}'
    first = _shared_text_frame(event)
    assert _shared_text_frame(event) is first  # the next subscriber of the same event
    other = _shared_text_frame(bytes(bytearray(event)))  # equal, another event's bytes
    assert other == first and other is not first
