"""``corral agent``: register (once), recover the instances, serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from corral.agent.agent import Agent
from corral.agent.keys import default_hostname, ensure_keys, normalize_url
from corral.agent.logs import RedactSecrets, setup_logging
from corral.agent.runtime import LocalProcessDriver

logger = logging.getLogger(__name__)


def default_data_dir() -> str:
    """``$CORRAL_AGENT_DATA_DIR``, else ``/var/lib/corral/agent`` for root, else
    ``~/.local/share/corral/agent``: the same place whatever the working directory, so a
    restart finds its keys."""
    configured = os.environ.get("CORRAL_AGENT_DATA_DIR")
    if configured:
        return configured
    if os.geteuid() == 0:
        return "/var/lib/corral/agent"
    return str(Path.home() / ".local" / "share" / "corral" / "agent")


@dataclass(frozen=True, slots=True)
class AgentOptions:
    url: str
    token: str | None
    data_dir: Path
    hostname: str | None = None
    log_file: str | None = None


async def run_agent(options: AgentOptions, stop: asyncio.Event | None = None) -> None:
    data_dir = options.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    redact = RedactSecrets([options.token or ""])
    log_path = setup_logging(data_dir, log_file=options.log_file, redact=redact)
    url = normalize_url(options.url)
    hostname = options.hostname or default_hostname()
    logger.info("corral agent starting: server %s, data dir %s, hostname %s, log %s", url,
                data_dir, hostname, log_path)
    keys = await ensure_keys(data_dir, url, options.token, hostname)
    redact.add(keys.secret_key)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    driver = LocalProcessDriver(data_dir)
    agent = Agent(keys, driver, url=url, data_dir=data_dir, hostname=keys.hostname)
    await agent.run(stop)
