"""The ``corral`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path


def _run(coro: object) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]


async def _serve(args: argparse.Namespace) -> None:
    from corral.server.app import CorralServer, ServerConfig

    server = CorralServer(ServerConfig(host=args.host, port=args.port,
                                       data_dir=Path(args.data_dir),
                                       db_url=args.db or os.environ.get("CORRAL_DB_URL")))
    await server.start()
    key = server.admin_key
    if key is not None and key.created and key.secret_key is not None:
        where = Path(args.data_dir) / "admin-key"
        print(f"admin API key created (shown once, also in {where}):", flush=True)
        print(f"  CATTLE_ACCESS_KEY={key.access_key}", flush=True)
        print(f"  CATTLE_SECRET_KEY={key.secret_key}", flush=True)
    print(f"corral listening on {server.url}  (API {server.url}/v1)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


async def _agent(args: argparse.Namespace) -> None:
    from corral.agent.main import AgentOptions, run_agent

    await run_agent(AgentOptions(url=args.url, token=args.token, data_dir=Path(args.data_dir),
                                 hostname=args.hostname, log_file=args.log_file))


def _add_agent_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from corral.agent.main import default_data_dir

    a = sub.add_parser("agent", help="run a host agent that runs instances on this machine")
    a.add_argument("--url", default=os.environ.get("CORRAL_URL"), required=not
                   os.environ.get("CORRAL_URL"), help="the server, e.g. http://corral:8080")
    a.add_argument("--token", default=os.environ.get("CORRAL_REGISTRATION_TOKEN"),
                   help="registration token (needed once; the keys are then kept)")
    a.add_argument("--data-dir", default=default_data_dir(),
                   help="keys, instance state and logs (default: %(default)s)")
    a.add_argument("--hostname", default=None, help="name to register (default: this host's)")
    a.add_argument("--log-file", default=os.environ.get("CORRAL_AGENT_LOG_FILE"),
                   help="default: /var/log/corral/agent.log if writable, else in the data dir")
    a.set_defaults(func=lambda a: _run(_agent(a)))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="corral", description=__doc__)
    p.add_argument("--log-level", default=os.environ.get("CORRAL_LOG_LEVEL", "INFO"))
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("server", help="run the orchestration server")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--data-dir", default=os.environ.get("CORRAL_DATA_DIR", "./data"))
    s.add_argument("--db", default=None,
                   help="database URL (postgresql://…); default: SQLite in the data dir")
    s.set_defaults(func=lambda a: _run(_serve(a)))
    _add_agent_parser(sub)
    from corral.cli_commands import register as register_client_commands

    register_client_commands(sub, p)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        args.func(args)
    except KeyboardInterrupt:
        pass
    except Exception as e:  # one line, not a traceback, for people at a terminal
        from corral.errors import CorralError

        if isinstance(e, CorralError | OSError):
            print(f"corral: {e}", file=sys.stderr)
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
