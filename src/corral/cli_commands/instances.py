"""``corral instance create|ls|start|stop|rm`` and ``corral host ls``.

Changing an instance runs a process on the server; the commands wait for it with a progress
display (on stderr) until the instance stops transitioning, and exit 1 if it ends in error
(the error message is printed). ``--no-wait`` returns as soon as the server took the change.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from corral.cli_commands.common import (
    Resource,
    err,
    fail,
    key_values,
    make_client,
    out,
    parents,
    print_json,
    runner,
    short_time,
    state_text,
    table,
)
from corral.client import Client, WaitTimeout


def _wait_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-wait", action="store_true",
                   help="do not wait for the process to finish")
    p.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                   help="give up waiting after this long (default 120)")


def register(sub: Any) -> None:
    p = sub.add_parser("instance", help="create, list, start, stop and remove instances",
                       description=(__doc__ or "").replace("``", ""),
                       formatter_class=argparse.RawTextHelpFormatter)
    cmds = p.add_subparsers(dest="instance_command", required=True, metavar="COMMAND")
    c = cmds.add_parser("create", parents=parents(), help="create (and start) an instance",
                        description="Create an instance. The command is --command 'CMD ARGS' "
                                    "or everything after --: corral instance create --name web "
                                    "-- python -m http.server")
    c.add_argument("--name")
    c.add_argument("--command", dest="command_line", metavar="CMD",
                   help="the command line (split like a shell would)")
    c.add_argument("--env", action="append", metavar="KEY=VALUE", help="environment variable")
    c.add_argument("--label", action="append", metavar="KEY=VALUE", help="label")
    c.add_argument("--host", dest="host_id", metavar="HOST_ID",
                   help="where to run it (default: the server picks an active host)")
    c.add_argument("argv", nargs="*", metavar="-- COMMAND ARGS", help=argparse.SUPPRESS)
    _wait_options(c)
    c.set_defaults(func=runner(create_instance))
    ls = cmds.add_parser("ls", parents=parents(), help="list instances")
    ls.add_argument("--all", action="store_true", help="include removed instances")
    ls.set_defaults(func=runner(list_instances))
    for verb, help_text in (("start", "start stopped instances"), ("stop", "stop instances"),
                            ("rm", "remove instances (stopping them first)")):
        a = cmds.add_parser(verb, parents=parents(), help=help_text)
        a.add_argument("ids", nargs="+", metavar="ID")
        _wait_options(a)
        a.set_defaults(func=runner(change_instances), verb=verb)

    h = sub.add_parser("host", help="list hosts")
    hcmds = h.add_subparsers(dest="host_command", required=True, metavar="COMMAND")
    hl = hcmds.add_parser("ls", parents=parents(), help="list hosts and their agents' state")
    hl.set_defaults(func=runner(list_hosts))


# -- waiting ------------------------------------------------------------------------------

def _label(r: Resource) -> str:
    name = f" ({r['name']})" if r.get("name") else ""
    return f"{r.get('type', 'instance')} {r.get('id')}{name}"


def _progress_text(r: Resource) -> str:
    text = f"{escape(_label(r))}: {state_text(r)}"
    if r.get("transitioningMessage"):
        colour = "red" if r.get("transitioning") == "error" else "dim"
        text += f" [{colour}]{escape(str(r['transitioningMessage']))}[/]"
    return text


def wait_done(client: Client, resources: list[Resource], timeout: float
              ) -> tuple[list[Resource], list[str]]:
    """Wait for each resource's process; (final resources, one error line per failure)."""
    finals: list[Resource] = []
    errors: list[str] = []
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TimeElapsedColumn(), console=err(), transient=True,
                  disable=not err().is_terminal) as progress:
        tasks: dict[str, TaskID] = {r["id"]: progress.add_task(_progress_text(r), total=None)
                                    for r in resources}

        def update(r: Resource) -> None:
            pct = r.get("transitioningProgress")
            progress.update(tasks[r["id"]], description=_progress_text(r),
                            total=100 if isinstance(pct, int) else None,
                            completed=pct if isinstance(pct, int) else 0)

        for r in resources:
            try:
                final = client.wait_transitioning(r, timeout, on_update=update)
            except WaitTimeout as e:
                final = e.resource or r
                errors.append(f"{_label(final)} is still {final.get('state')} after "
                              f"{timeout:g} s; see `corral processes`")
                finals.append(final)
                continue
            progress.update(tasks[r["id"]], total=1, completed=1)
            finals.append(final)
            if final.get("transitioning") == "error":
                errors.append(f"{_label(final)} failed while {final.get('state')}: "
                              f"{final.get('transitioningMessage') or 'error'} (the server "
                              f"retries it; see `corral processes --delayed`)")
            elif final.get("state") == "error":
                errors.append(f"{_label(final)} ended in state error: "
                              f"{final.get('transitioningMessage') or 'see corral processes'}")
    return finals, errors


def _report(finals: list[Resource], errors: list[str], as_json: bool, single: bool) -> int:
    if as_json:
        print_json(finals[0] if single else finals)
    else:
        for r in finals:
            out().print(f"{escape(_label(r))}: {state_text(r)}", soft_wrap=True)
    for line in errors:
        err().print(f"[bold red]corral:[/] {escape(line)}", soft_wrap=True)
    return 1 if errors else 0


# -- commands -----------------------------------------------------------------------------

def create_instance(args: argparse.Namespace) -> int:
    argv = list(args.argv or [])
    if args.command_line:
        if argv:
            fail("give the command either with --command or after --, not both", code=2)
        argv = shlex.split(args.command_line)
    if not argv:
        fail("no command: pass --command 'CMD ARGS' or put it after --", code=2)
    fields: dict[str, Any] = {"command": argv}
    if args.name:
        fields["name"] = args.name
    if args.env:
        fields["environment"] = key_values(args.env, "--env")
    if args.label:
        fields["labels"] = key_values(args.label, "--label")
    if args.host_id:
        fields["hostId"] = args.host_id
    with make_client(args) as client:
        inst = client.create("instances", **fields)
        if args.no_wait:
            return _report([inst], [], args.json, single=True)
        finals, errors = wait_done(client, [inst], args.timeout)
    return _report(finals, errors, args.json, single=True)


def change_instances(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        started = []
        for instance_id in args.ids:
            if args.verb == "rm":
                started.append(client.delete("instances", instance_id))
            else:
                started.append(client.action("instances", instance_id, args.verb))
        if args.no_wait:
            return _report(started, [], args.json, single=False)
        finals, errors = wait_done(client, started, args.timeout)
    return _report(finals, errors, args.json, single=False)


def list_instances(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        rows = client.list("instances") if args.all else client.list("instances",
                                                                     removed_null="")
    if args.json:
        print_json(rows)
        return 0
    table(("ID", "NAME", "STATE", "HOST", "PID", "COMMAND", "CREATED"),
          ([escape(r["id"]), escape(str(r.get("name") or "")), state_text(r),
            escape(str(r.get("hostId") or "")), escape(str(r.get("externalId") or "")),
            escape(shlex.join(r.get("command") or [])[:60]), short_time(r.get("created"))]
           for r in rows), empty="no instances")
    return 0


def list_hosts(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        rows = client.list("hosts")
    if args.json:
        print_json(rows)
        return 0
    table(("ID", "NAME", "STATE", "AGENT", "AGENT STATE", "CREATED"),
          ([escape(r["id"]), escape(str(r.get("name") or "")), state_text(r),
            escape(str(r.get("agentId") or "")), escape(str(r.get("agentState") or "")),
            short_time(r.get("created"))] for r in rows), empty="no hosts")
    return 0
