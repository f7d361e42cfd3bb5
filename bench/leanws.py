"""A WebSocket client cut down to what the fan-out bench's subscribers do: connect, read text.

The bench puts a thousand subscribers on one load core next to the publisher, so what the
*clients* spend per message is part of every latency it reports: with aiohttp's client
(reader, message queue, a task wake-up per message) that is ~20-30 us a message, and 100
subscribers of one event on that core see it up to ~3 ms apart however fast the server
sent it. This client is an ``asyncio.Protocol`` that parses the server's frames where they
arrive and hands each text payload to a callback: a few microseconds a message. Only the
server-to-client side of RFC 6455 that corral uses: unmasked frames, no extensions
(none are asked for), no fragmentation (each event is one frame); a ping frame is answered
with a pong, a close frame closes. Used by ``fanout.py`` unless ``--client aiohttp``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable
from urllib.parse import urlsplit

TEXT, CLOSE, PING = 0x1, 0x8, 0x9


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (clients must mask, RFC 6455 §5.3); payloads here are < 126 bytes."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + body


class LeanSocket(asyncio.Protocol):
    def __init__(self, request: bytes, on_text: Callable[[bytes], None]) -> None:
        self.request = request
        self.on_text = on_text
        self.buf = bytearray()
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(exc or ConnectionError("closed before the upgrade"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[:buf.find(b"\r\n")])
            del buf[:end + 4]
            if b" 101 " not in status:
                self.upgraded.set_exception(ConnectionError(status.decode(errors="replace")))
                assert self.transport is not None
                self.transport.close()
                return
            self.upgraded.set_result(None)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            opcode, n = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = struct.unpack_from("!H", buf, pos + 2)[0]
                head = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = struct.unpack_from("!Q", buf, pos + 2)[0]
                head = 10
            if size - pos < head + n:
                break
            payload = bytes(buf[pos + head:pos + head + n])
            pos += head + n
            if opcode == TEXT:
                self.on_text(payload)
            elif opcode == PING and self.transport is not None:
                self.transport.write(_masked(0xA, payload))
            elif opcode == CLOSE and self.transport is not None:
                self.transport.close()
        if pos:
            del buf[:pos]

    def pause(self) -> None:
        """Read no more: what arrives waits in the kernel (an idle subscriber)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    async def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_masked(CLOSE, struct.pack("!H", 1000)))
            self.transport.close()
        await self.closed


async def connect(url: str, headers: dict[str, str], on_text: Callable[[bytes], None]
                  ) -> LeanSocket:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Version: 13",
             "Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)).decode()]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    _, sock = await loop.create_connection(lambda: LeanSocket(request, on_text),
                                           parts.hostname, parts.port or 80)
    await sock.upgraded
    return sock
