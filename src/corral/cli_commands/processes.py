"""``corral processes``: the process pool as the Processes page shows it, and one process's log.

Status of a process: ``running`` (an attempt runs on a server now), ``delayed`` (waiting for
its next attempt), ``ready`` (due, about to be picked up), or, once finished, its result
(``SUCCESS``, ``FAILURE``, ``CANCELED``).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from rich.markup import escape

from corral.cli_commands.common import (
    Resource,
    make_client,
    out,
    parents,
    parse_time,
    print_json,
    runner,
    short_time,
    styled,
    table,
)
from corral.client import Client


def register(sub: Any) -> None:
    p = sub.add_parser("processes", parents=parents(), help="list processes; show one's log",
                       description=(__doc__ or "").replace("``", ""),
                       formatter_class=argparse.RawTextHelpFormatter)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--running", dest="view", action="store_const", const="running",
                       help="only processes with an attempt running now")
    which.add_argument("--delayed", dest="view", action="store_const", const="delayed",
                       help="only unfinished processes waiting for their next attempt")
    which.add_argument("--failed", dest="view", action="store_const", const="failed",
                       help="only processes that ended in FAILURE")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.set_defaults(func=runner(list_processes), view=None)
    cmds = p.add_subparsers(dest="processes_command", metavar="COMMAND")
    s = cmds.add_parser("show", parents=parents(), help="a process and its execution log")
    s.add_argument("id", help="process instance id, e.g. 1pi12")
    s.set_defaults(func=runner(show_process))


def status(p: Resource, now: datetime | None = None) -> str:
    if p.get("endTime"):
        return str(p.get("result") or "done")
    if p.get("runningProcessServerId"):
        return "running"
    run_after = parse_time(p.get("runAfter"))
    now = now or datetime.now(UTC)
    return "delayed" if run_after is not None and run_after > now else "ready"


def fetch(client: Client, view: str | None, limit: int) -> list[Resource]:
    page: dict[str, Any] = {"sort": "id", "order": "desc", "limit": min(max(limit, 1), 1000)}
    match view:
        case "running":
            return client.list("processinstances", endTime_null="",
                               runningProcessServerId_notnull="", max_items=limit, **page)
        case "delayed":
            rows = client.list("processinstances", endTime_null="",
                               runningProcessServerId_null="", **page)
            return [p for p in rows if status(p) == "delayed"][:limit]
        case "failed":
            return client.list("processinstances", result="FAILURE", max_items=limit, **page)
    return client.list("processinstances", max_items=limit, **page)


def list_processes(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        rows = fetch(client, args.view, args.limit)
    if args.json:
        print_json(rows)
        return 0
    table(("ID", "PROCESS", "RESOURCE", "STATUS", "EXIT", "ATTEMPTS", "STARTED", "NEXT TRY"),
          ([escape(p["id"]), escape(str(p.get("processName"))),
            escape(f"{p.get('resourceType')} {p.get('resourceId')}"), styled(status(p)),
            escape(str(p.get("exitReason") or "")), str(p.get("executionCount") or 0),
            short_time(p.get("startTime")),
            "" if p.get("endTime") else short_time(p.get("runAfter"))] for p in rows),
          empty=f"no {args.view or ''} processes".replace("  ", " "))
    return 0


def show_process(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        process = client.get("processinstances", args.id)
        executions = client.list("processexecutions", processInstanceId=process["id"],
                                 sort="id")
    if args.json:
        print_json({"process": process, "executions": executions})
        return 0
    print_timeline(process, executions)
    return 0


def _clock(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "?"
    return datetime.fromtimestamp(seconds).strftime("%H:%M:%S.%f")[:-3]


def _entry(entry: dict[str, Any]) -> tuple[str, str]:
    """(kind, what) of one log entry, for people."""
    kind = str(entry.get("type"))
    match kind:
        case "transition":
            return "state", f"{styled(entry.get('from'))} → {styled(entry.get('to'))}"
        case "handler":
            result = entry.get("result")
            return "handler", escape(str(entry.get("name"))) + (
                f" → {escape(str(result))}" if result else "")
        case "event":
            extra = f" (timeout {entry['timeout']:g} s)" if isinstance(
                entry.get("timeout"), int | float) else ""
            return "sent", f"[cyan]{escape(str(entry.get('name')))}[/]{escape(extra)}"
        case "reply":
            t = entry.get("transitioning") or "no"
            word = {"no": "[green]done[/]", "yes": "[cyan]progress[/]", "error": "[red]error[/]"}
            msg = entry.get("message")
            return "reply", word.get(t, escape(t)) + (f" {escape(str(msg))}" if msg else "")
        case "timeout":
            return "timeout", (f"[yellow]no reply to {escape(str(entry.get('name')))} within "
                               f"{entry.get('timeout')} s[/]")
        case "note":
            return "note", escape(str(entry.get("text")))
    rest = {k: v for k, v in entry.items() if k not in ("type", "time")}
    return escape(kind), escape(str(rest))


def print_timeline(process: Resource, executions: list[Resource]) -> None:
    con = out()
    con.print(f"[bold]process {escape(process['id'])}[/]  {escape(str(process['processName']))}"
              f" on {escape(str(process.get('resourceType')))} "
              f"{escape(str(process.get('resourceId')))}", soft_wrap=True)
    ended = short_time(process.get("endTime")) or "not yet"
    con.print(f"  status {styled(status(process))}   exit {escape(str(process.get('exitReason')))}"
              f"   attempts {process.get('executionCount')}   started "
              f"{short_time(process.get('startTime'))}   ended {ended}", soft_wrap=True)
    if not process.get("endTime") and process.get("runAfter"):
        con.print(f"  next attempt at {short_time(process.get('runAfter'))}")
    if not executions:
        con.print("[dim]  no attempt logged yet[/]")
    for execution in executions:
        for attempt in (execution.get("log") or {}).get("attempts") or []:
            _print_attempt(attempt)


def _print_attempt(attempt: dict[str, Any]) -> None:
    con = out()
    start, stop = attempt.get("start"), attempt.get("stop")
    took = f" ({(stop - start) * 1000:.0f} ms)" if isinstance(start, int | float) and \
        isinstance(stop, int | float) else " (unfinished)"
    con.print(f"\n[bold]attempt {attempt.get('attempt')}[/] on {escape(str(attempt.get('serverId')))}"
              f"  {_clock(start)} → {_clock(stop) if stop else '…'}{took}  exit "
              f"{styled(attempt.get('exitReason'))}", soft_wrap=True)
    for entry in attempt.get("entries") or []:
        t = entry.get("time")
        offset = f"+{t - start:.3f}s" if isinstance(t, int | float) and \
            isinstance(start, int | float) else ""
        kind, what = _entry(entry)
        con.print(f"  [dim]{offset:>9}[/]  {kind:<8} {what}", soft_wrap=True)
    if attempt.get("droppedEntries"):
        con.print(f"  [dim]… {attempt['droppedEntries']} entries not kept[/]")
    if attempt.get("exception"):
        con.print("  [red]exception:[/]")
        for line in str(attempt["exception"]).splitlines():
            con.print(f"    {escape(line)}", soft_wrap=True)
