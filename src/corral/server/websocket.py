"""The WebSocket endpoint ``/v1/subscribe``: the only glue between a socket and the bus.

Checks happen before the upgrade (auth by the middleware; event names, ``agentId``,
``since`` here), so a bad request gets an HTTP error JSON, not a socket that closes.
Then: a ping event at once and every ``api.sub.ping.interval.millis``; the requested
names qualified per §3; the events the bus routes to this socket's ``SocketSink``, which
writes those of one loop turn to the transport itself, in one write early in the next (a
backlog and a task only while the transport is paused, see
``corral.bus.stream_sink.StreamSink``); the handler's own task reads the socket (close
frames; aiohttp answers WebSocket pings). A sink that overflows (a slow consumer)
ends the socket with close code 4008 and the reason; a ``since`` that was purged ends it
with ``resync.required`` and 4010.

Browsers cannot set an ``Authorization`` header on a WebSocket, so this upgrade (and only
this one) also takes the Basic credentials from the subprotocols the client offers: ``corral``
and ``corral.basic.<base64url(access:secret)>`` (unpadded). The header wins when both are
there; the server answers with ``corral`` and never echoes or logs the credential.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import struct
from typing import Any

from aiohttp import WSMsgType, web

from corral.api.context import Context
from corral.bus import CLOSE_NORMAL
from corral.bus.sink import Sink
from corral.bus.stream_sink import StreamSink
from corral.engine.agentping import agent_connected
from corral.errors import Forbidden, ProtocolError, Unauthorized, ValidationError
from corral.protocol import names
from corral.protocol.event import Event, encode
from corral.protocol.ids import parse_id

log = logging.getLogger(__name__)

_CLOSE_WAIT = 2.0
PING_SLICE = 16  # sockets pinged between two yields to the event loop (~0.2 ms of sends)

SUBPROTOCOL = "corral"
CREDENTIAL_PROTOCOL_PREFIX = "corral.basic."
_SUBSCRIBE_PATH = re.compile(r"^/v1(?:/projects/[^/]+)?/subscribe/?$")
_END = frozenset((WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR))


def offered_protocols(request: web.Request) -> list[str]:
    raw = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def browser_authorization(request: web.Request) -> str | None:
    """An ``Authorization`` value made from the credential subprotocol of a subscribe
    upgrade (see the module docstring); None for any other request."""
    if request.method != "GET" or not _SUBSCRIBE_PATH.match(request.path) \
            or request.headers.get("Upgrade", "").lower() != "websocket":
        return None
    for proto in offered_protocols(request):
        if proto.startswith(CREDENTIAL_PROTOCOL_PREFIX):
            value = proto[len(CREDENTIAL_PROTOCOL_PREFIX):]
            try:
                decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            except ValueError:
                raise Unauthorized("malformed credentials in Sec-WebSocket-Protocol") from None
            return "Basic " + base64.b64encode(decoded).decode()
    return None


_TEXT = 0x81  # FIN + opcode 1: a whole text frame; server frames are not masked
_HEAD_7 = struct.Struct("!BB").pack
_HEAD_16 = struct.Struct("!BBH").pack
_HEAD_64 = struct.Struct("!BBQ").pack
_SHARED_MAX = 1 << 16  # the last frame built is kept for the next socket up to this size


def text_frame(payload: bytes) -> bytes:
    """``payload`` as one unmasked WebSocket text frame (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        return _HEAD_7(_TEXT, n) + payload
    if n < 65536:
        return _HEAD_16(_TEXT, 126, n) + payload
    return _HEAD_64(_TEXT, 127, n) + payload


_last: tuple[bytes, bytes] = (b"", text_frame(b""))


def _shared_text_frame(frame: bytes) -> bytes:
    """``text_frame`` built once per event: the sinks' flush writes an event's frame (the
    same ``bytes`` object) to its subscribers one after the other; the last one is reused."""
    global _last
    last = _last
    if frame is last[0]:
        return last[1]
    wire = text_frame(frame)
    if len(frame) <= _SHARED_MAX:
        _last = (frame, wire)
    return wire


class SocketSink(StreamSink):
    """The sink of one subscribe socket: events go out as text frames, written to the
    transport by the sink itself (no writer task). Closed with any code but 1000 (overflow 4008, resync 4010, shutdown 1001)
    it sends the close frame with that code and reason once its backlog is out, and drops
    the connection if that has not happened within ``_CLOSE_WAIT`` (a socket nobody reads).
    """

    __slots__ = ("_ws",)

    _wrap = staticmethod(_shared_text_frame)

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, maxsize: int, *,
                 label: str) -> None:
        super().__init__(request.transport, request.protocol, maxsize, label=label)
        self._ws = ws

    def _gone(self) -> bool:
        return self._ws.closed or bool(self._transport.is_closing())

    def _closed(self) -> None:
        if self.close_code != CLOSE_NORMAL:
            self._start_pump()
            asyncio.get_running_loop().call_later(_CLOSE_WAIT, self._abort)

    async def _finish(self) -> None:
        code = self.close_code
        if code is not None and code != CLOSE_NORMAL:
            await self._ws.close(code=code, message=(self.close_reason or "").encode()[:120])

    def _abort(self) -> None:
        pump = self._pump
        if pump is not None and not pump.done():
            pump.cancel()
            self._transport.abort()


class PingTicker:
    """Sends one shared ``ping`` frame to every open socket every interval."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.sinks: set[Sink] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        settings.on_change(self._setting_changed)

    def _setting_changed(self, name: str, _value: str) -> None:
        if name == "api.sub.ping.interval.millis":
            self._wake.set()

    @staticmethod
    def frame(last_seq: int | None = None) -> bytes:
        data: dict[str, Any] = {"options": {}, "resources": []}
        if last_seq is not None:
            data["lastSeq"] = last_seq
        return encode(Event.new("ping", data=data))

    def add(self, sink: Sink, *, last_seq: int | None = None) -> None:
        """Send the connect ping (with ``lastSeq``, the stream position it starts after)."""
        sink.offer(self.frame(last_seq))
        self.sinks.add(sink)

    def discard(self, sink: Sink) -> None:
        self.sinks.discard(sink)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            interval = self.settings.get_seconds("api.sub.ping.interval.millis")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
                continue  # the interval changed: start a new one at the new length
            if self.sinks:
                frame = self.frame()
                sinks = list(self.sinks)
                # In slices, yielding between them: each ping is a send() (~10 us, made by
                # the sinks' flush in the next turn), so with 10,000 sockets one pass would
                # hold the loop for ~100 ms and every delivery would wait behind it.
                for start in range(0, len(sinks), PING_SLICE):
                    for sink in sinks[start:start + PING_SLICE]:
                        sink.offer(frame)
                    await asyncio.sleep(0)


def subscription_names(ctx: Context, requested: list[str], agent_param: str | None) -> list[str]:
    """The qualified names this principal subscribes to (§3); 4xx if it may not."""
    if not requested:
        raise ValidationError("at least one eventNames is required", code="MissingRequired",
                              field_name="eventNames")
    for name in requested:
        names.validate(name, field_name="eventNames")
    agent_id: int | None = None
    if agent_param is not None:
        try:
            agent_id = parse_id("agent", agent_param)
        except ProtocolError:
            raise ValidationError(f"agentId {agent_param!r} is not an agent id",
                                  field_name="agentId") from None
    p = ctx.principal
    if p.is_raw:
        if agent_id is None:
            return requested
        return [names.qualify(n, agent_id=agent_id) for n in requested]
    if any(names.strip(n) == "*" for n in requested):
        raise Forbidden("only admin and service keys may subscribe to every event (*)",
                        field_name="eventNames")
    if p.account_kind == "agent":
        if agent_id is not None and p.agent_id is not None and agent_id != p.agent_id:
            raise Forbidden("an agent key cannot subscribe as another agent",
                            field_name="agentId")
        agent_id = agent_id if agent_id is not None else p.agent_id
        if agent_id is None:
            raise ValidationError("this agent account has several agents: pass agentId",
                                  code="MissingRequired", field_name="agentId")
        return [names.qualify(n, agent_id=agent_id) for n in requested]
    if ctx.project_id is None:
        raise Forbidden("this key belongs to no project", field_name="eventNames")
    return [names.qualify(n, account_id=ctx.project_id) for n in requested]


def _parse_since(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationError("since must be a non-negative integer (a seq)", field_name="since")
    return int(raw)


async def handle_subscribe(request: web.Request, ctx: Context) -> web.StreamResponse:
    services = ctx.services
    requested = request.query.getall("eventNames", [])
    qualified = subscription_names(ctx, list(requested), request.query.get("agentId"))
    since = _parse_since(request.query.get("since"))
    offered = offered_protocols(request)
    if SUBPROTOCOL not in offered and \
            any(p.startswith(CREDENTIAL_PROTOCOL_PREFIX) for p in offered):
        # aiohttp would log the offered protocols (the credential) when none matches
        raise ValidationError(f"offer the subprotocol {SUBPROTOCOL!r} beside the credential",
                              code="MissingRequired", field_name="Sec-WebSocket-Protocol")
    ws = web.WebSocketResponse(autoping=True, compress=False, max_msg_size=1 << 20,
                               protocols=(SUBPROTOCOL,))
    if not ws.can_prepare(request).ok:
        raise ValidationError("this endpoint needs a WebSocket upgrade", code="InvalidFormat",
                              field_name="Upgrade")
    await ws.prepare(request)
    label = f"{ctx.principal.account_kind}:{ctx.principal.account_id}@{request.remote}"
    sink = SocketSink(ws, request, services.settings.get_int("api.sub.queue.max.events"),
                      label=label)
    # The connect ping says where the live stream starts (``lastSeq``): a client that has no
    # position yet can resume from there after a drop. Nothing awaits between reading it
    # and registering the subscription, so every later event reaches this socket.
    services.pinger.add(sink, last_seq=services.bus.last_seq)
    subscription = None
    try:
        subscription = await services.bus.subscribe(qualified, sink, since=since, label=label)
        if ctx.principal.account_kind == "agent" and ctx.principal.agent_id is not None:
            await agent_connected(services, ctx.principal.agent_id)
        # This task only reads: clients send nothing we act on, aiohttp answers pings and
        # close frames. The sink writes.
        while (await ws.receive()).type not in _END:
            pass
    finally:
        services.pinger.discard(sink)
        if subscription is not None:
            await services.bus.unsubscribe(subscription)
        sink.close(CLOSE_NORMAL, "")
        pump = sink.pump  # still writing a backlog, or sending a close frame
        if pump is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(pump), _CLOSE_WAIT)
            pump.cancel()
    return ws
