"""The agent's identity: registering with a token once, keeping the keys in ``agent.json``.

``POST /v1/register`` (§8) hands the agent its keys exactly once. They are saved in
``<data-dir>/agent.json`` (mode 0600, written atomically: a crash never leaves half a file),
and every later start reuses them: a restarted agent does not register again, so it does not
become a second host. Keys saved for another server URL are not used; the agent registers
again when it has a token for the new server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import socket
import stat
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from corral.client import AsyncClient
from corral.client.config import ClientConfig
from corral.client.errors import ApiError, ConnectionFailed
from corral.errors import CorralError

logger = logging.getLogger(__name__)

KEYS_FILE = "agent.json"
_HOSTNAME_BAD = re.compile(r"[^a-zA-Z0-9_.-]+")


class RegistrationError(CorralError):
    """Registration failed for a reason retrying will not fix (e.g. a revoked token)."""


@dataclass(frozen=True, slots=True)
class AgentKeys:
    """What registration returned. ``url`` is the server base URL (no ``/v1``)."""

    agent_id: str
    host_id: str
    project_id: str
    access_key: str
    secret_key: str
    url: str
    hostname: str
    registered_at: float

    def to_json(self) -> dict[str, Any]:
        return {_camel(k): v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> AgentKeys:
        return cls(**{name: obj[_camel(name)] for name in cls.__dataclass_fields__})

    def __repr__(self) -> str:  # never show the secret, even in a debug dump
        return (f"AgentKeys(agent_id={self.agent_id!r}, host_id={self.host_id!r}, "
                f"access_key={self.access_key!r}, url={self.url!r})")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def normalize_url(url: str) -> str:
    """``127.0.0.1:8080``, ``http://h:8080/`` or ``http://h:8080/v1`` → ``http://h:8080``."""
    url = url.strip()
    if "://" not in url:
        url = f"http://{url}"
    url = url.rstrip("/")
    url = url.removesuffix("/v1")
    return url.rstrip("/")


def default_hostname() -> str:
    """This machine's name, reduced to what the register schema accepts."""
    name = _HOSTNAME_BAD.sub("-", socket.gethostname()).strip("-.")
    return name[:255] or "localhost"


def load_keys(data_dir: Path) -> AgentKeys | None:
    """The saved keys, or ``None`` when there are none (or the file is unusable)."""
    path = data_dir / KEYS_FILE
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning("%s was readable by others (mode %o); setting it to 0600", path, mode)
        os.chmod(path, 0o600)
    try:
        return AgentKeys.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        logger.error("ignoring unreadable %s: %s", path, type(exc).__name__)
        return None


def save_keys(data_dir: Path, keys: AgentKeys) -> Path:
    """Write ``agent.json`` atomically with mode 0600."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / KEYS_FILE
    fd, tmp = tempfile.mkstemp(prefix=".agent.", suffix=".json.tmp", dir=data_dir)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(keys.to_json(), f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable
        dir_fd = os.open(data_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


async def register(url: str, token: str, hostname: str, *, client: AsyncClient) -> AgentKeys:
    """One ``POST /v1/register``. Raises :class:`RegistrationError` on a refusal (4xx),
    :class:`ConnectionFailed` (or :class:`ApiError` for a 5xx) when it may work later."""
    try:
        body: Any = await client.create("register", token=token, hostname=hostname)
    except ApiError as exc:
        if 400 <= exc.status < 500:
            raise RegistrationError(
                f"registration refused by {url} (HTTP {exc.status}): {exc.message}") from None
        raise
    try:
        return AgentKeys(agent_id=body["agentId"], host_id=body["hostId"],
                         project_id=body["projectId"], access_key=body["accessKey"],
                         secret_key=body["secretKey"], url=url, hostname=hostname,
                         registered_at=time.time())
    except KeyError as exc:
        raise RegistrationError(f"the server's registration answer lacks {exc}") from None


async def ensure_keys(data_dir: Path, url: str, token: str | None, hostname: str, *,
                      max_wait: float = 30.0) -> AgentKeys:
    """The saved keys when they are for ``url``; else register with ``token`` and save.

    A server that cannot be reached is tried again (backoff up to ``max_wait`` s between
    tries, forever); a refused token ends it with :class:`RegistrationError`.
    """
    saved = load_keys(data_dir)
    if saved is not None:
        if normalize_url(saved.url) == url:
            logger.info("using saved keys of agent %s (host %s, access key %s)",
                        saved.agent_id, saved.host_id, saved.access_key)
            return saved
        if token is None:
            raise RegistrationError(
                f"{data_dir / KEYS_FILE} holds keys for {saved.url}, not {url}; "
                "pass --token to register with this server")
        logger.warning("saved keys are for %s, registering with %s", saved.url, url)
    if token is None:
        raise RegistrationError(
            f"no saved keys in {data_dir / KEYS_FILE}: pass --token to register")
    delay = 0.5
    # no key: the token is the credential of this one call
    async with AsyncClient(config=ClientConfig(url), timeout=30.0) as client:
        while True:
            try:
                keys = await register(url, token, hostname, client=client)
                break
            except (ConnectionFailed, ApiError) as exc:
                wait = delay * random.uniform(0.5, 1.0)
                logger.warning("cannot register with %s (%s); retrying in %.1fs",
                               url, exc.__class__.__name__, wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, max_wait)
    path = save_keys(data_dir, keys)
    logger.info("registered as agent %s, host %s, project %s; keys saved in %s",
                keys.agent_id, keys.host_id, keys.project_id, path)
    return keys
