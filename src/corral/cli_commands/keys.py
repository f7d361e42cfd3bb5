"""``corral apikey create|ls|rm`` and ``corral token create``: the keys of people and agents."""

from __future__ import annotations

import argparse
from typing import Any

from rich.markup import escape

from corral.cli_commands.common import (
    err,
    make_client,
    out,
    parents,
    print_json,
    runner,
    short_time,
    state_text,
    table,
)


def register(sub: Any) -> None:
    p = sub.add_parser("apikey", help="create, list and remove API keys")
    cmds = p.add_subparsers(dest="apikey_command", required=True, metavar="COMMAND")
    c = cmds.add_parser("create", parents=parents(),
                        help="create a key; its secret is shown once")
    c.add_argument("--name", help="a name to recognise the key by")
    c.add_argument("--description")
    c.add_argument("--account", dest="account_id", metavar="ACCOUNT_ID",
                   help="the account the key acts as (admins only; default: yours)")
    c.set_defaults(func=runner(create_key))
    ls = cmds.add_parser("ls", parents=parents(), help="list API keys")
    ls.add_argument("--all", action="store_true", help="include removed keys")
    ls.set_defaults(func=runner(list_keys))
    rm = cmds.add_parser("rm", parents=parents(), help="remove API keys (they stop working)")
    rm.add_argument("ids", nargs="+", metavar="ID")
    rm.set_defaults(func=runner(remove_keys))

    t = sub.add_parser("token", help="registration tokens for host agents")
    tcmds = t.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    tc = tcmds.add_parser("create", parents=parents(),
                          help="create a registration token and print the agent command")
    tc.set_defaults(func=runner(create_token))


def create_key(args: argparse.Namespace) -> int:
    fields = {k: v for k, v in (("name", args.name), ("description", args.description),
                                ("accountId", args.account_id)) if v is not None}
    with make_client(args) as client:
        key = client.create("apikeys", **fields)
    if args.json:
        print_json(key)
        return 0
    con = out()
    con.print(f"API key {escape(key['id'])} created"
              + (f" ({escape(key['name'])})" if key.get("name") else ""))
    con.print(f"  CATTLE_ACCESS_KEY={escape(str(key['publicValue']))}", soft_wrap=True)
    con.print(f"  CATTLE_SECRET_KEY={escape(str(key['secretValue']))}", soft_wrap=True)
    err().print("[yellow]the secret is shown only now: keep it somewhere safe[/]")
    return 0


def list_keys(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        keys = client.list("apikeys") if args.all else client.list("apikeys", removed_null="")
    if args.json:
        print_json(keys)
        return 0
    table(("ID", "NAME", "ACCESS KEY", "STATE", "ACCOUNT", "CREATED"),
          ([escape(k["id"]), escape(str(k.get("name") or "")), escape(str(k["publicValue"])),
            state_text(k), escape(str(k.get("accountId"))), short_time(k.get("created"))]
           for k in keys), empty="no API keys")
    return 0


def remove_keys(args: argparse.Namespace) -> int:
    removed = []
    with make_client(args) as client:
        for key_id in args.ids:
            removed.append(client.delete("apikeys", key_id))
    if args.json:
        print_json(removed)
        return 0
    for key in removed:
        out().print(f"API key {escape(key['id'])} ({escape(str(key['publicValue']))}) removed")
    return 0


def create_token(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        token = client.create("registrationtokens")
    if args.json:
        print_json(token)
        return 0
    err().print(f"registration token {escape(token['id'])} created; run this on each host:")
    out().print(escape(str(token["command"])), soft_wrap=True)
    return 0
