"""bench/leanws.py, the fan-out bench's subscriber client: its frame parsing decides the
bench's counts and latencies, so it is checked byte by byte here."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import leanws


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False
        self.paused = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True


def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 126)) + struct.pack("!H", n)
    else:
        head = bytes((0x80 | opcode, 127)) + struct.pack("!Q", n)
    return head + payload


UPGRADE = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
           b"Connection: upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n")


async def test_frames_are_parsed_however_the_bytes_are_split() -> None:
    texts = [b'{"name":"ping"}', b"x" * 300, b"y" * 70_000, b"z"]
    stream = UPGRADE + b"".join(_frame(leanws.TEXT, t) for t in texts)
    for chunk in (1, 3, 7, 64, 1000, len(stream)):
        got: list[bytes] = []
        sock = leanws.LeanSocket(b"GET / HTTP/1.1\r\n\r\n", got.append)
        transport = _Transport()
        sock.connection_made(transport)  # type: ignore[arg-type]
        assert transport.written == [b"GET / HTTP/1.1\r\n\r\n"]
        for i in range(0, len(stream), chunk):
            sock.data_received(stream[i:i + chunk])
        assert sock.upgraded.done() and sock.upgraded.exception() is None
        assert got == texts, chunk
        assert sock.buf == bytearray()


async def test_a_ping_frame_gets_a_masked_pong_and_a_close_frame_closes() -> None:
    got: list[bytes] = []
    sock = leanws.LeanSocket(b"", got.append)
    transport = _Transport()
    sock.connection_made(transport)  # type: ignore[arg-type]
    sock.data_received(UPGRADE + _frame(leanws.PING, b"hi"))
    pong = transport.written[-1]
    assert pong[0] == 0x8A and pong[1] == 0x80 | 2  # FIN + pong, masked, 2 bytes
    mask = pong[2:6]
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(pong[6:])) == b"hi"
    sock.data_received(_frame(leanws.CLOSE, struct.pack("!H", 1000)))
    assert transport.closed and got == []


async def test_a_refused_upgrade_fails_the_connect() -> None:
    sock = leanws.LeanSocket(b"", lambda _: None)
    transport = _Transport()
    sock.connection_made(transport)  # type: ignore[arg-type]
    sock.data_received(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(sock.upgraded.exception(), ConnectionError)
    assert "401" in str(sock.upgraded.exception()) and transport.closed


async def test_pause_stops_reading_at_the_transport() -> None:
    sock = leanws.LeanSocket(b"", lambda _: None)
    transport = _Transport()
    sock.connection_made(transport)  # type: ignore[arg-type]
    sock.pause()
    assert transport.paused
