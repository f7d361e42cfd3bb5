"""``corral login``: check a URL and key against the server, then save them for later commands."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from rich.markup import escape
from rich.prompt import Prompt

from corral.cli_commands.common import err, fail, out, parents, print_json, runner
from corral.client import Client, ClientConfig, config_path, save
from corral.client.config import ENV_ACCESS, ENV_SECRET, ENV_URL, api_base
from corral.client.errors import ApiError


def register(sub: Any) -> None:
    p = sub.add_parser("login", parents=parents(),
                       help="check a server URL and API key, and save them for later commands",
                       description="Verifies the URL and key with GET /v1, then writes them "
                                   "to the config file (mode 0600): $CORRAL_CONFIG, else "
                                   "~/.config/corral/config.json.")
    p.set_defaults(func=runner(login))


def _value(args: argparse.Namespace, attr: str, env: str, prompt: str, *,
           password: bool = False) -> str:
    value = getattr(args, attr, None) or os.environ.get(env)
    if value:
        return str(value)
    if not sys.stdin.isatty():
        flag = "--" + attr.replace("api_", "").replace("_", "-")
        fail(f"missing {flag} (or {env})", code=2)
    return Prompt.ask(prompt, password=password, console=err())


def login(args: argparse.Namespace) -> int:
    url = _value(args, "api_url", ENV_URL, "Server URL")
    access = _value(args, "access_key", ENV_ACCESS, "Access key")
    secret = _value(args, "secret_key", ENV_SECRET, "Secret key", password=True)
    config = ClientConfig(url.strip(), access.strip(), secret.strip())
    with Client(config=config) as client:
        root = client.root()
    if not isinstance(root, dict) or root.get("type") != "apiVersion":
        raise ApiError(200, "InvalidResponse", "not an API root", url=api_base(url),
                       wrong_url=True)
    path = save(config, config_path())
    if args.json:
        print_json({"url": config.url, "apiUrl": api_base(config.url),
                    "accessKey": config.access_key, "configFile": str(path)})
    else:
        out().print(f"[green]logged in[/] to {escape(api_base(config.url))} with key "
                    f"{escape(access)}; saved to {escape(str(path))}", soft_wrap=True)
    return 0


__all__ = ["register"]
