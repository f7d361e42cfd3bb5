"""What every client command shares: connection options, the client, output, errors.

Output: rich tables and colour for people (colour only on a terminal, ``NO_COLOR``
honoured), ``--json`` for scripts (stdout holds only the JSON). Errors: one line on
stderr that says what to do, exit code 1; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from corral.client import Client, ClientConfig, resolve
from corral.errors import CorralError

Handler = Callable[[argparse.Namespace], int | None]
Resource = dict[str, Any]

SUPPRESS = argparse.SUPPRESS

STATE_STYLES = {
    "running": "green", "active": "green", "SUCCESS": "green", "stopped": "yellow",
    "inactive": "yellow", "CANCELED": "yellow", "delayed": "yellow", "error": "red",
    "FAILURE": "red", "removed": "dim", "purged": "dim", "ready": "cyan",
}


# -- options ------------------------------------------------------------------------------

def add_global_options(parser: argparse.ArgumentParser) -> None:
    """``--url``/``--access-key``/``--secret-key`` before the command (``corral --url U …``)."""
    g = parser.add_argument_group("connection (client commands)")
    g.add_argument("--url", dest="api_url", default=None, metavar="URL",
                   help="the corral server, e.g. http://localhost:8080 (else CATTLE_URL, "
                        "else the file written by `corral login`)")
    g.add_argument("--access-key", dest="access_key", default=None,
                   help="API access key (else CATTLE_ACCESS_KEY, else the config file)")
    g.add_argument("--secret-key", dest="secret_key", default=None,
                   help="API secret key (else CATTLE_SECRET_KEY, else the config file)")


@cache
def connection_parent() -> argparse.ArgumentParser:
    """The same options after the command (``corral host ls --url U``); absent = not given."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("connection")
    g.add_argument("--url", dest="api_url", default=SUPPRESS, metavar="URL",
                   help="the corral server (else CATTLE_URL, else `corral login`'s file)")
    g.add_argument("--access-key", dest="access_key", default=SUPPRESS,
                   help="API access key (else CATTLE_ACCESS_KEY)")
    g.add_argument("--secret-key", dest="secret_key", default=SUPPRESS,
                   help="API secret key (else CATTLE_SECRET_KEY)")
    return p


@cache
def json_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    return p


def parents(json_flag: bool = True) -> list[argparse.ArgumentParser]:
    return [connection_parent(), json_parent()] if json_flag else [connection_parent()]


def client_config(args: argparse.Namespace) -> ClientConfig:
    return resolve(getattr(args, "api_url", None), getattr(args, "access_key", None),
                   getattr(args, "secret_key", None))


def make_client(args: argparse.Namespace) -> Client:
    return Client(config=client_config(args), timeout=getattr(args, "http_timeout", 30.0))


# -- running a command --------------------------------------------------------------------

def _width(stream: Any) -> int | None:
    """Rich's width, except that a pipe gets wide lines instead of 80 columns."""
    if os.environ.get("COLUMNS") or (hasattr(stream, "isatty") and stream.isatty()):
        return None
    return 250


@cache
def out() -> Console:
    return Console(highlight=False, width=_width(sys.stdout))


@cache
def err() -> Console:
    return Console(stderr=True, highlight=False, width=_width(sys.stderr))


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, then exit ``code``."""
    err().print(f"[bold red]corral:[/] {escape(message)}", soft_wrap=True)
    sys.exit(code)


def runner(handler: Handler) -> Callable[[argparse.Namespace], None]:
    """Wrap a command: errors become one line on stderr and exit code 1."""
    def run(args: argparse.Namespace) -> None:
        if str(getattr(args, "log_level", "INFO")).upper() != "DEBUG":
            for name in ("httpx", "httpcore", "aiohttp"):
                logging.getLogger(name).setLevel(logging.WARNING)
        try:
            code = handler(args)
        except KeyboardInterrupt:
            sys.exit(130)
        except CorralError as e:
            fail(str(e))
        except OSError as e:  # e.g. the config file cannot be written
            fail(f"{e.strerror or e}: {e.filename}" if e.filename else str(e))
        sys.exit(code or 0)
    return run


# -- output -------------------------------------------------------------------------------

def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def styled(value: Any) -> str:
    text = "" if value is None else str(value)
    style = STATE_STYLES.get(text)
    return f"[{style}]{escape(text)}[/]" if style else escape(text)


def state_text(resource: Resource) -> str:
    """``running``, ``starting…`` while transitioning, ``creating (error)`` on error."""
    state = styled(resource.get("state"))
    match resource.get("transitioning"):
        case "yes":
            return f"{state}…"
        case "error":
            return f"{state} [red](error)[/]"
    return state


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
          empty: str = "nothing to show") -> None:
    rows = list(rows)
    if not rows:
        err().print(f"[dim]{escape(empty)}[/]")
        return
    t = Table(*columns, box=None, header_style="bold", pad_edge=False)
    for row in rows:
        t.add_row(*(r if isinstance(r, str) else escape("" if r is None else str(r))
                    for r in row))
    out().print(t)


def short_time(iso: str | None) -> str:
    """An ISO time in local time: ``12:00:01`` if today, else ``2024-05-01 12:00``."""
    when = parse_time(iso)
    if when is None:
        return ""
    local = when.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M")


def parse_time(iso: str | None) -> datetime | None:
    if not iso:
        return None
    try:
        when = datetime.fromisoformat(str(iso))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def key_values(pairs: Sequence[str] | None, what: str) -> dict[str, str]:
    """``["A=1", "B=x=y"]`` → ``{"A": "1", "B": "x=y"}``; a pair without ``=`` is an error."""
    result: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"{what} {pair!r} is not KEY=VALUE", code=2)
        result[key] = value
    return result
