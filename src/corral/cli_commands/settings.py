"""``corral settings ls|get|set``: the server's live configuration (changes apply at once)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.markup import escape

from corral.cli_commands.common import make_client, out, parents, print_json, runner, table


def register(sub: Any) -> None:
    p = sub.add_parser("settings", help="list, read and change server settings")
    cmds = p.add_subparsers(dest="settings_command", required=True, metavar="COMMAND")
    ls = cmds.add_parser("ls", parents=parents(), help="list settings with value and source")
    ls.add_argument("prefix", nargs="?", help="only settings whose name starts with this")
    ls.set_defaults(func=runner(list_settings))
    g = cmds.add_parser("get", parents=parents(), help="print one setting's value")
    g.add_argument("name")
    g.set_defaults(func=runner(get_setting))
    s = cmds.add_parser("set", parents=parents(), help="change a setting (applies at once)")
    s.add_argument("name")
    s.add_argument("value")
    s.set_defaults(func=runner(set_setting))


def _row(s: dict[str, Any]) -> list[str]:
    source = "[bold]Database[/]" if s.get("source") == "Database" else "[dim]Default[/]"
    return [escape(str(s["name"])), escape(str(s.get("value"))), source,
            escape(str(s.get("description") or ""))]


def list_settings(args: argparse.Namespace) -> int:
    filters = {"name_prefix": args.prefix} if args.prefix else {}
    with make_client(args) as client:
        rows = client.list("settings", **filters)
    if args.json:
        print_json(rows)
        return 0
    table(("NAME", "VALUE", "SOURCE", "DESCRIPTION"), (_row(s) for s in rows),
          empty="no settings")
    return 0


def get_setting(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        setting = client.get("settings", args.name)
    if args.json:
        print_json(setting)
    else:
        out().print(escape(str(setting.get("value"))), soft_wrap=True)
    return 0


def set_setting(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        setting = client.set_setting(args.name, args.value)
    if args.json:
        print_json(setting)
    else:
        out().print(f"{escape(str(setting['name']))} = {escape(str(setting.get('value')))}",
                    soft_wrap=True)
    return 0
