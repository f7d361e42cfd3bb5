"""``corral events tail``: subscribe over the WebSocket and print the events as they come.

``--name`` (repeatable) picks event names (default ``*``: everything this key may see);
``--since SEQ`` first replays the persisted events after that sequence number (§7);
``--count N`` stops after N events; Ctrl-C ends it. ``--json`` prints one JSON object per
line (JSON Lines).

Agent pings (the ``ping`` calls and their replies) are left out unless ``--name ping`` or
``--pings`` asks for them. With ``*``, an admin key receives each ``resource.change`` both
as published for admins and as published for the project; the copy is left out.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from datetime import datetime
from typing import Any

import aiohttp
from rich.markup import escape
from yarl import URL

from corral.cli_commands.common import client_config, out, parents, runner, styled
from corral.client import AsyncClient, ClientConfig, ConnectionFailed
from corral.client.core import origin
from corral.client.errors import ClientError, describe_transport_error

Event = dict[str, Any]


def register(sub: Any) -> None:
    p = sub.add_parser("events", help="watch the event stream")
    events = p.add_subparsers(dest="events_command", required=True, metavar="COMMAND")
    t = events.add_parser("tail", parents=parents(), help="print events as they happen",
                          description=(__doc__ or "").replace("``", ""),
                          formatter_class=argparse.RawTextHelpFormatter)
    t.add_argument("--name", action="append", dest="names", metavar="NAME",
                   help="event name to subscribe to (repeatable; default: * = all)")
    t.add_argument("--since", type=int, metavar="SEQ",
                   help="first replay the persisted events after this sequence number")
    t.add_argument("--count", type=int, metavar="N", help="stop after N events")
    t.add_argument("--pings", action="store_true", help="show agent pings and their replies")
    t.set_defaults(func=runner(tail))


def tail(args: argparse.Namespace) -> int:
    config = client_config(args)
    try:
        return asyncio.run(_tail(config, args))
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a tail ends


def subscribe_url(config: ClientConfig, names: list[str], since: int | None) -> URL:
    base = URL(config.base_url)
    scheme = {"https": "wss", "http": "ws"}.get(base.scheme, base.scheme)
    query: list[tuple[str, str]] = [("eventNames", n) for n in names]
    if since is not None:
        query.append(("since", str(since)))
    return base.with_scheme(scheme).with_path(f"{base.path.rstrip('/')}/subscribe") \
        .with_query(query)


async def _explain_refusal(config: ClientConfig, url: URL, status: int) -> Exception:
    """The server checks a subscription before the upgrade: ask again over plain HTTP to
    read its error JSON (401 bad key, 403, 422 bad name or since, 404 wrong URL)."""
    http_url = str(url.with_scheme("https" if url.scheme == "wss" else "http"))
    async with AsyncClient(config=config) as client:
        try:
            await client.fetch(http_url)
        except Exception as e:  # noqa: BLE001 - this is the error we want to show
            return e
    return ClientError(f"the server refused the subscription (HTTP {status})")


async def _tail(config: ClientConfig, args: argparse.Namespace) -> int:
    names = args.names or ["*"]
    keep = EventFilter(pings=args.pings or "ping" in names, dedupe="*" in names)
    url = subscribe_url(config, names, args.since)
    auth = base64.b64encode(f"{config.access_key}:{config.secret_key}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}"}
    printer = print_json_line if args.json else print_human
    seen, last_seq = 0, args.since
    async with aiohttp.ClientSession(headers=headers) as session:
        try:
            ws = await session.ws_connect(url, heartbeat=30.0, max_msg_size=16 << 20)
        except aiohttp.WSServerHandshakeError as e:
            raise await _explain_refusal(config, url, e.status) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            raise ConnectionFailed(origin(config.base_url), describe_transport_error(e)) \
                from None
        async with ws:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                event = json.loads(msg.data)
                if not keep(event):
                    continue
                if isinstance(event.get("seq"), int):
                    last_seq = event["seq"]
                printer(event)
                seen += 1
                if args.count is not None and seen >= args.count:
                    return 0
            code, reason = ws.close_code, _reason(ws)
    resume = f"; resume with --since {last_seq}" if last_seq is not None else ""
    raise ClientError(f"the server closed the subscription ({code}{reason}){resume}")


class EventFilter:
    """Which received events a tail shows (see the module's docstring)."""

    def __init__(self, *, pings: bool, dedupe: bool, window: int = 256) -> None:
        self.pings, self.dedupe, self.window = pings, dedupe, window
        self._recent: dict[tuple[Any, ...], None] = {}

    def __call__(self, event: Event) -> bool:
        if not self.pings and (event.get("name") == "ping"
                               or (event.get("previousNames") or [None])[0] == "ping"):
            return False
        if self.dedupe and event.get("name") == "resource.change":
            key = (event.get("resourceType"), event.get("resourceId"),
                   json.dumps(event.get("data"), sort_keys=True))
            if key in self._recent:
                del self._recent[key]
                return False
            self._recent[key] = None
            if len(self._recent) > self.window:
                del self._recent[next(iter(self._recent))]
        return True


def _reason(ws: aiohttp.ClientWebSocketResponse) -> str:
    extra = getattr(ws, "close_message", None) or ""
    if isinstance(extra, bytes):
        extra = extra.decode(errors="replace")
    return f" {extra}" if extra else ""


def print_json_line(event: Event) -> None:
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def describe(event: Event) -> str:
    """The part of a line after name and resource: what happened, in a few words."""
    data = event.get("data")
    resource = data.get("resource") if isinstance(data, dict) else None
    if isinstance(resource, dict):
        text = styled(resource.get("state"))
        if resource.get("transitioning") == "yes":
            text += "…"
        if resource.get("transitioning") == "error":
            text += f" [red]{escape(str(resource.get('transitioningMessage') or 'error'))}[/]"
        if resource.get("name"):
            text = f"{escape(str(resource['name']))} {text}"
        return text
    if event.get("previousIds"):
        t = event.get("transitioning") or "no"
        msg = event.get("transitioningMessage")
        word = {"no": "[green]done[/]", "yes": "[cyan]progress[/]", "error": "[red]error[/]"}
        return word.get(t, escape(t)) + (f" {escape(str(msg))}" if msg else "")
    if event.get("replyTo"):
        return f"[dim]call, reply to {escape(str(event['replyTo']))}[/]"
    return ""


def print_human(event: Event) -> None:
    millis = event.get("time")
    when = datetime.fromtimestamp(millis / 1000).strftime("%H:%M:%S.%f")[:-3] \
        if isinstance(millis, int | float) else "--:--:--.---"
    seq = f"#{event['seq']}" if isinstance(event.get("seq"), int) else ""
    rtype, rid = event.get("resourceType"), event.get("resourceId")
    what = f"{rtype} {rid}" if rtype or rid else ""
    line = (f"[dim]{when}[/] [dim]{seq:>6}[/] [bold cyan]{escape(str(event.get('name')))}[/] "
            f"{escape(what)} {describe(event)}")
    out().print(line.rstrip(), soft_wrap=True)
