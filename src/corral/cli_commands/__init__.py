"""The client commands of ``corral``: login, events, processes, apikey, settings, host,
instance, token. Each module registers its sub-commands; :func:`register` adds them all.

They talk to a server through :mod:`corral.client`; the URL and key come from
``--url``/``--access-key``/``--secret-key`` (before or after the command), else the
``CATTLE_*`` variables, else the file written by ``corral login``.
"""

from __future__ import annotations

import argparse
from typing import Any

from corral.cli_commands.common import add_global_options


def register(sub: Any, parser: argparse.ArgumentParser) -> None:
    from corral.cli_commands import events, instances, keys, login, processes, settings

    add_global_options(parser)
    for module in (login, events, processes, keys, settings, instances):
        module.register(sub)
