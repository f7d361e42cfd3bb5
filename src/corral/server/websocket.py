"""The WebSocket endpoint ``/v1/subscribe``: the only glue between a socket and the bus.

Checks happen before the upgrade (auth by the middleware; event names, ``agentId``,
``since`` here), so a bad request gets an HTTP error JSON, not a socket that closes.
Then: a ping event at once and every ``api.sub.ping.interval.millis``; the requested
names qualified per §3; the events the bus routes to this socket's bounded sink,
written by one task. A sink that overflows (a slow consumer) ends the socket with close
code 4008 and the reason; a ``since`` that was purged ends it with ``resync.required``
and 4010.

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
from typing import Any

from aiohttp import WSMsgType, web

from corral.api.context import Context
from corral.bus import CLOSE_NORMAL, QueueSink
from corral.engine.agentping import agent_connected
from corral.errors import Forbidden, ProtocolError, Unauthorized, ValidationError
from corral.protocol import names
from corral.protocol.event import Event, encode
from corral.protocol.ids import parse_id

log = logging.getLogger(__name__)

_CLOSE_WAIT = 2.0
PING_SLICE = 256  # sockets pinged between two yields to the event loop

SUBPROTOCOL = "corral"
CREDENTIAL_PROTOCOL_PREFIX = "corral.basic."
_SUBSCRIBE_PATH = re.compile(r"^/v1(?:/projects/[^/]+)?/subscribe/?$")


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


class SocketSink(QueueSink):
    """A QueueSink that tells its socket at once when it is closed (e.g. overflowed)."""

    __slots__ = ("on_close",)

    def __init__(self, maxsize: int, *, label: str) -> None:
        super().__init__(maxsize, label=label)
        self.on_close: Any = None

    def close(self, code: int = CLOSE_NORMAL, reason: str = "", *, discard: bool = False) -> None:
        was_open = self.close_code is None
        super().close(code, reason, discard=discard)
        if was_open and self.on_close is not None:
            self.on_close()


class PingTicker:
    """Sends one shared ``ping`` frame to every open socket every interval."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.sinks: set[QueueSink] = set()
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

    def add(self, sink: QueueSink, *, last_seq: int | None = None) -> None:
        """Send the connect ping (with ``lastSeq``, the stream position it starts after)."""
        sink.offer(self.frame(last_seq))
        self.sinks.add(sink)

    def discard(self, sink: QueueSink) -> None:
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
                # In slices, yielding between them: with 10,000 sockets one pass would hold
                # the loop for ~100 ms and every delivery would wait behind it.
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


async def _write(ws: web.WebSocketResponse, sink: SocketSink) -> None:
    try:
        async for frame in sink:
            await ws.send_frame(frame, WSMsgType.TEXT)
    finally:
        # The connection broke (send_frame raised) or the writer was cancelled: nobody
        # drains the sink any more, so close it, or a resume replay waiting for room in
        # it would wait until a ping overflowed it.
        if sink.close_code is None:
            sink.close(CLOSE_NORMAL, "connection lost", discard=True)
    if sink.close_code is not None and sink.close_code != CLOSE_NORMAL:
        await ws.close(code=sink.close_code, message=(sink.close_reason or "").encode()[:120])


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
    sink = SocketSink(services.settings.get_int("api.sub.queue.max.events"), label=label)
    writer = asyncio.get_running_loop().create_task(_write(ws, sink))

    def closed() -> None:
        # Overflow or resync: the writer may be blocked on a socket nobody reads; give the
        # close frame a moment, then drop the connection.
        if sink.close_code != CLOSE_NORMAL:
            asyncio.get_running_loop().call_later(_CLOSE_WAIT, _abort, request, writer)

    sink.on_close = closed
    # The connect ping says where the live stream starts (``lastSeq``): a client that has no
    # position yet can resume from there after a drop. Nothing awaits between reading it
    # and registering the subscription, so every later event reaches this socket.
    services.pinger.add(sink, last_seq=services.bus.last_seq)
    subscription = None
    try:
        subscription = await services.bus.subscribe(qualified, sink, since=since, label=label)
        if ctx.principal.account_kind == "agent" and ctx.principal.agent_id is not None:
            await agent_connected(services, ctx.principal.agent_id)
        async for msg in ws:
            if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break  # clients send nothing we act on; pings are answered by aiohttp
    finally:
        services.pinger.discard(sink)
        if subscription is not None:
            await services.bus.unsubscribe(subscription)
        sink.close(CLOSE_NORMAL, "")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(writer), _CLOSE_WAIT)
        writer.cancel()
    return ws


def _abort(request: web.Request, writer: asyncio.Task[None]) -> None:
    if not writer.done():
        writer.cancel()
        if request.transport is not None:
            request.transport.abort()
